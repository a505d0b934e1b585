"""Embedding off the event loop, so LLM calls keep flowing while a CPU encoder runs."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from econ.embed.base import Embedder

_pool: ThreadPoolExecutor | None = None
_pool_pid = -1
_pool_lock = threading.Lock()


def _embedding_pool() -> ThreadPoolExecutor:
    # One worker: encoders are CPU-bound and tokenizers are not safe to call from two threads
    # at once. Its own pool, because the default one may be full of local LLM calls waiting on
    # their model's lock. Re-created after a fork, whose child has no worker thread.
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = ThreadPoolExecutor(max_workers=1, thread_name_prefix="econ-embed"), os.getpid()
        return _pool


async def encode_async(embedder: Embedder, texts: list[str]) -> torch.Tensor:
    """`embedder.encode(texts)` in the embedding thread: (len(texts), dim), one encode at a time per process."""
    return await asyncio.get_running_loop().run_in_executor(_embedding_pool(), embedder.encode, list(texts))
