"""Embedders: local MiniLM offline, and the cache that sits in front of any embedder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from econ.embed import CachedEmbedder, build_embedder

CONF = Path(__file__).resolve().parents[1] / "conf"


class CountingEmbedder:
    """A deterministic stand-in that records what it was asked to embed."""

    name = "counting"
    dim = 4

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        rows = [[float(len(t)), 1.0, float(t.count("a")), 0.5] for t in texts]
        return torch.nn.functional.normalize(torch.tensor(rows), dim=-1)


@pytest.fixture(scope="module")
def local_embedder(tmp_path_factory):
    cfg = OmegaConf.create(
        {
            "paths": {"cache_dir": str(tmp_path_factory.mktemp("cache"))},
            "embedder": OmegaConf.load(CONF / "embedder/local.yaml"),
        }
    )
    return build_embedder(cfg.embedder)


def test_local_embedder_encodes_offline_to_unit_384d_rows(local_embedder):
    vectors = local_embedder.encode(["Six times seven is 42.", "The answer is forty-two."])
    assert vectors.shape == (2, 384) and local_embedder.dim == 384 and vectors.dtype == torch.float32
    assert torch.allclose(vectors.norm(dim=-1), torch.ones(2), atol=1e-4)
    assert local_embedder.encode([]).shape == (0, 384)


def test_a_local_embedding_depends_on_its_text_alone(local_embedder):
    # Which texts share an encode call depends on which problems happen to run at once (and a
    # cached vector on which call embedded it first); a vector must not, or results do too.
    inner = local_embedder.inner
    strategy = "Add the two quantities."
    alone = inner.encode([strategy])[0]
    long = "Tom has 57 apples and gets 45 more from his friend at the market. How many apples does he have now?"
    for companions in ([long], ["The answer is 102.", long, "9"]):
        batched = inner.encode([*companions, strategy])[-1]
        assert torch.equal(batched, alone)
    # and a cache filled by the batched encoder of earlier versions does not serve its vectors
    assert local_embedder._key(strategy) != hashlib.sha256(f"{inner.name}\0{strategy}".encode()).hexdigest()


def test_similar_texts_are_closer_than_unrelated_ones(local_embedder):
    a, b, c = local_embedder.encode(["The answer is 42.", "I think the answer is 42.", "Paris is in France."])
    assert a @ b > a @ c


def test_cache_embeds_each_distinct_text_once(tmp_path):
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, tmp_path / "c.sqlite")
    first = cached.encode(["a", "bb", "a"])
    again = cached.encode(["bb", "a"])
    assert inner.seen == ["a", "bb"]
    assert first.shape == (3, 4) and torch.equal(first[0], first[2]) and torch.equal(again[0], first[1])


def test_cache_persists_across_instances_and_memory_eviction(tmp_path):
    path = tmp_path / "c.sqlite"
    CachedEmbedder(CountingEmbedder(), path).encode(["alpha", "beta"])
    inner = CountingEmbedder()
    reloaded = CachedEmbedder(inner, path, memory_items=1)
    vectors = reloaded.encode(["alpha", "beta", "gamma"])
    assert inner.seen == ["gamma"]
    assert torch.allclose(vectors, CountingEmbedder().encode(["alpha", "beta", "gamma"]))
