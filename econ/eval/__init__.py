"""Evaluation: the resumable per-problem loop, results.json and its table, paired statistics."""
