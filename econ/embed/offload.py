"""Embedding off the event loop, so LLM calls keep flowing while an encoder runs."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from econ.embed.base import Embedder

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_pid = -1
_pools_lock = threading.Lock()


def _embedding_pool(workers: int) -> ThreadPoolExecutor:
    # Own pools, because the default one may be full of local LLM calls waiting on their
    # model's lock. Re-created after a fork, whose child has no worker threads.
    global _pools_pid
    with _pools_lock:
        if _pools_pid != os.getpid():
            _pools.clear()
            _pools_pid = os.getpid()
        if workers not in _pools:
            _pools[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"econ-embed-{workers}")
        return _pools[workers]


async def encode_async(embedder: Embedder, texts: list[str]) -> torch.Tensor:
    """`embedder.encode(texts)` in a worker thread: (len(texts), dim).

    At most `embedder.max_parallel_encodes` encodes run at once per process (default 1): a CPU
    encoder saturates its core and its tokenizer is not safe to call from two threads, while a
    remote one waits on the network, so concurrent problems may overlap their requests.
    """
    workers = max(1, int(getattr(embedder, "max_parallel_encodes", 1)))
    return await asyncio.get_running_loop().run_in_executor(_embedding_pool(workers), embedder.encode, list(texts))
