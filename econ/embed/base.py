"""The embedder protocol: texts → a (n, dim) float32 tensor of unit vectors."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised vectors; `name` identifies the model (it keys the cache).

    Optional: `max_parallel_encodes` (default 1), how many `encode` calls may run at once in
    different threads (econ.embed.offload); more than 1 only for network-bound embedders.
    Optional: `encoding`, a tag of how vectors are computed; it enters the cache key
    (econ.embed.cache), so a change in it never serves vectors computed the old way.
    """

    name: str
    dim: int

    def encode(self, texts: list[str]) -> torch.Tensor:  # (n, dim), float32, rows of norm 1
        ...
