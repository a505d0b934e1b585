"""The ECON game: prompts, one episode of BNE rounds, the hierarchical commitment tree, per-executor rewards."""
