"""A self-contained HTML viewer for runs and comparisons: `python -m econ.view RUN_DIR|COMPARE_DIR`."""
