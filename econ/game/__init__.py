"""The ECON game: prompts, one episode of BNE rounds, and per-executor rewards."""
