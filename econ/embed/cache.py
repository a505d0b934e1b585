"""CachedEmbedder: an in-memory LRU in front of a sqlite table in front of any Embedder."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from econ.embed.base import Embedder
from econ.llm.cache import open_sqlite, transaction

_SQL_CHUNK = 500  # bound on "?" parameters per SELECT
EMBEDDING_COLUMNS = {"key", "dim", "vec"}


class CachedEmbedder:
    """Embeds each distinct text once per model: LRU (memory_items) → sqlite (cache_path, optional) → inner.

    The sqlite table `embeddings` may live in the LLM cache file; it is keyed by
    sha256(model name, the inner embedder's optional `encoding`, text), so two embedders never
    share vectors.
    """

    def __init__(self, inner: Embedder, cache_path: str | Path | None = None, memory_items: int = 50_000) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.max_parallel_encodes = getattr(inner, "max_parallel_encodes", 1)  # see econ.embed.offload
        self.memory_items = int(memory_items)
        self._lru: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self._conn = None
        if cache_path is not None:
            self._conn = open_sqlite(cache_path, key="embedder.cache_path")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, dim INTEGER NOT NULL, vec BLOB NOT NULL)"
            )

    def _key(self, text: str) -> str:
        # an inner embedder that changed how it computes vectors says so in `encoding`: older vectors are not served
        encoding = getattr(self.inner, "encoding", None)
        model = f"{self.name}\0{encoding}" if encoding else self.name
        return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()

    def encode(self, texts: list[str]) -> torch.Tensor:
        keys = [self._key(t) for t in texts]
        with self._lock:
            found = {k: self._lru[k] for k in keys if k in self._lru}
            for k in found:
                self._lru.move_to_end(k)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        found.update(self._load(missing))
        todo = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found))
        if todo:
            vectors = self.inner.encode(todo)  # (len(todo), dim)
            fresh = {self._key(t): v for t, v in zip(todo, vectors)}
            self._store(fresh)
            found.update(fresh)
        self._remember(found)
        if not texts:
            return torch.zeros(0, self.dim)
        return torch.stack([found[k] for k in keys])  # (n, dim)

    def _load(self, keys: list[str]) -> dict[str, torch.Tensor]:
        if self._conn is None or not keys:
            return {}
        out = {}
        with self._lock:
            for i in range(0, len(keys), _SQL_CHUNK):
                chunk = keys[i : i + _SQL_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(f"SELECT key, dim, vec FROM embeddings WHERE key IN ({marks})", chunk)
                for key, dim, blob in rows:
                    if dim == self.dim:
                        out[key] = torch.from_numpy(np.frombuffer(blob, dtype=np.float32).copy())
        return out

    def _store(self, vectors: dict[str, torch.Tensor]) -> None:
        if self._conn is None or not vectors:
            return
        rows = [(k, self.dim, v.detach().cpu().numpy().astype(np.float32).tobytes()) for k, v in vectors.items()]
        with self._lock, transaction(self._conn) as conn:
            conn.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)", rows)

    def _remember(self, vectors: dict[str, torch.Tensor]) -> None:
        with self._lock:
            for k, v in vectors.items():
                self._lru[k] = v
                self._lru.move_to_end(k)
            while len(self._lru) > self.memory_items:
                self._lru.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
