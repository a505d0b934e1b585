"""LLM layer: one async protocol for every backend, with cache, retries and accounting around it."""
