"""LLM layer: one async protocol for every backend, with cache, retries and accounting around it."""

from econ.llm.base import Completion, LLMBackend, Message, Sampling
from econ.llm.cache import ResponseCache, cache_key
from econ.llm.client import LLMClient, build_llm_client
from econ.llm.usage import UsageTotals, UsageTracker

__all__ = [
    "Completion",
    "LLMBackend",
    "LLMClient",
    "Message",
    "ResponseCache",
    "Sampling",
    "UsageTotals",
    "UsageTracker",
    "build_llm_client",
    "cache_key",
]
