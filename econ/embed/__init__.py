"""Text embedders (local MiniLM, Together bge) behind one protocol, with a persistent cache."""

from econ.embed.base import Embedder
from econ.embed.cache import CachedEmbedder

__all__ = ["CachedEmbedder", "Embedder"]


def build_embedder(embedder_cfg) -> Embedder:
    """The embedder of the `embedder` config group (constructor errors surface as one-line EconErrors)."""
    from econ.llm.client import instantiate_config

    return instantiate_config(embedder_cfg)


__all__ += ["build_embedder"]
