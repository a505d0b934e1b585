"""The embedded SmolLM2-135M GGUF really generates, deterministically per seed, through the client."""

from __future__ import annotations

import asyncio

import pytest

from econ.llm import LLMClient, Sampling
from econ.llm.local import LocalLlamaBackend

MESSAGES = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def backend() -> LocalLlamaBackend:
    # One thread: on a shared 2-core machine, two llama.cpp threads slow down ~10x under contention.
    return LocalLlamaBackend(n_ctx=512, n_threads=1)


async def test_embedded_model_generates_text_and_counts_tokens(backend):
    client = LLMClient(backend, max_retries=1)
    sampling = Sampling(temperature=0.7, max_tokens=16, seed=11, repetition_penalty=0.5)
    first = await client.complete(MESSAGES, sampling, role="executor", problem_id="p")
    assert first.text.strip() and first.prompt_tokens > 0 and 0 < first.completion_tokens <= 16
    assert client.usage.total()["completion_tokens"] == first.completion_tokens


async def test_same_seed_same_text_even_when_called_concurrently(backend):
    sampling = Sampling(temperature=1.0, max_tokens=12, seed=5)
    a, b = await asyncio.gather(backend.complete(MESSAGES, sampling), backend.complete(MESSAGES, sampling))
    assert a.text == b.text
