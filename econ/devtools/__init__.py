"""Developer tools for tests, benchmarks and experiments (never offered to users as a model)."""

from econ.devtools.loopback import LoopbackRequest, LoopbackServer

__all__ = ["LoopbackRequest", "LoopbackServer"]
