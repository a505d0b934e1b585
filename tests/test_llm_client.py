"""LLMClient against the loopback server: retries, Retry-After, final errors, concurrency, accounting."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from econ.errors import LLMError
from econ.llm import LLMClient, Sampling, UsageTracker
from econ.llm.openai_compatible import OpenAICompatibleBackend

MESSAGES = [{"role": "user", "content": "What is six times seven?"}]


def make_client(server, *, timeout_s=5.0, max_retries=3, max_concurrency=4, **kwargs) -> LLMClient:
    backend = OpenAICompatibleBackend(model="loopback", base_url=server.base_url, timeout_s=timeout_s)
    return LLMClient(
        backend,
        cache=kwargs.pop("cache", None),
        max_concurrency=max_concurrency,
        max_retries=max_retries,
        retry_max_wait_s=kwargs.pop("retry_max_wait_s", 5.0),
        retry_initial_wait_s=kwargs.pop("retry_initial_wait_s", 0.01),
        usage=kwargs.pop("usage", None),
    )


async def complete(client, problem_id="p1", role="executor", **sampling):
    return await client.complete(MESSAGES, Sampling(**sampling), role=role, problem_id=problem_id)


@pytest.mark.parametrize("fault, kind", [("429", "429"), ("500", "5xx"), ("503", "5xx"), ("timeout", "timeout")])
async def test_retryable_fault_is_retried_then_succeeds(loopback_factory, fault, kind):
    server = loopback_factory(script=[fault], retry_after_s=0.0, timeout_sleep_s=2.0)
    client = make_client(server, timeout_s=0.5)
    completion = await complete(client)
    await client.aclose()
    assert "\\boxed{42}" in completion.text
    assert completion.attempts == 2 and completion.faults == {kind: 1}
    assert len(server.requests) == 2 and server.faults == {fault: 1}
    total = client.usage.total()
    assert total["calls"] == 1 and total["retries"] == 1 and total["faults"] == {kind: 1}


@pytest.mark.parametrize(
    "fault, kind", [("malformed", "malformed"), ("reset", "connection"), ("truncated", "connection")]
)
async def test_broken_replies_are_retried(loopback_factory, fault, kind):
    server = loopback_factory(script=[fault])
    client = make_client(server)
    completion = await complete(client)
    await client.aclose()
    assert completion.faults == {kind: 1} and completion.text


async def test_empty_completion_is_retried_with_a_new_seed(loopback_factory):
    server = loopback_factory(script=["empty"])
    client = make_client(server)
    completion = await complete(client, seed=7)
    await client.aclose()
    assert completion.faults == {"empty": 1} and completion.text
    assert [r["seed"] for r in server.chat_requests()] == [7, 8]


async def test_retry_after_is_honoured(loopback_factory):
    server = loopback_factory(script=["429"], retry_after_s=0.6)
    client = make_client(server, retry_initial_wait_s=0.01)
    await complete(client)
    await client.aclose()
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.55


@pytest.mark.parametrize(
    "status, hint", [("400", "400 Bad Request"), ("401", "401 Unauthorized — check OPENAI_API_KEY")]
)
async def test_client_errors_are_not_retried(loopback_factory, monkeypatch, status, hint):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123456789")
    server = loopback_factory(script=[status])
    client = make_client(server)
    with pytest.raises(LLMError) as info:
        await complete(client)
    await client.aclose()
    message = str(info.value)
    assert len(server.requests) == 1
    assert hint in message and "\n" not in message
    assert "sk-test-secret-123456789" not in message
    assert client.usage.total()["failures"] == 1


async def test_exhausted_budget_names_problem_backend_and_last_fault(loopback_factory):
    server = loopback_factory(script=["500", "502", "503"])
    client = make_client(server, max_retries=2)
    with pytest.raises(LLMError) as info:
        await complete(client, problem_id="gsm8k-17")
    await client.aclose()
    message = str(info.value)
    assert "gsm8k-17" in message and "openai_compatible/loopback" in message and "503" in message
    assert "llm.max_retries" in message and "\n" not in message
    assert len(server.requests) == 3
    assert client.usage.problem("gsm8k-17")["faults"] == {"5xx": 3}


async def test_concurrent_calls_overlap(loopback_factory):
    server = loopback_factory(latency_s=0.3)
    client = make_client(server, max_concurrency=4)
    await complete(client)  # warm the connection pool
    start = time.perf_counter()
    await asyncio.gather(*(complete(client, problem_id=f"p{i}") for i in range(4)))
    elapsed = time.perf_counter() - start
    await client.aclose()
    assert elapsed < 0.3 * 2.5, f"4 calls of 0.3 s took {elapsed:.2f} s: not concurrent"
    assert server.max_in_flight == 4


async def test_max_concurrency_bounds_calls_in_flight(loopback_factory):
    server = loopback_factory(latency_s=0.1)
    client = make_client(server, max_concurrency=2)
    await asyncio.gather(*(complete(client, problem_id=f"p{i}") for i in range(6)))
    await client.aclose()
    assert server.max_in_flight == 2


async def test_token_counts_are_what_the_server_reported(loopback_factory):
    server = loopback_factory(prompt_tokens=123, completion_tokens=45)
    usage = UsageTracker()
    client = make_client(server, usage=usage)
    completion = await complete(client, role="coordinator", problem_id="q1")
    await complete(client, role="executor", problem_id="q1")
    await complete(client, role="executor", problem_id="q2")
    await client.aclose()
    assert (completion.prompt_tokens, completion.completion_tokens) == (123, 45)
    snap = usage.snapshot()
    json.dumps(snap)  # plain data
    assert snap["total"]["prompt_tokens"] == 3 * 123 and snap["total"]["completion_tokens"] == 3 * 45
    assert snap["by_role"]["executor"]["calls"] == 2 and snap["by_role"]["coordinator"]["calls"] == 1
    assert usage.problem("q1")["total_tokens"] == 2 * (123 + 45)
    assert usage.problem("q1", role="coordinator")["calls"] == 1


async def test_sampling_reaches_the_server(loopback_factory):
    server = loopback_factory()
    client = make_client(server)
    await complete(client, temperature=0.3, top_p=0.8, max_tokens=77, seed=5, repetition_penalty=0.5)
    await complete(client, repetition_penalty=0.0)
    await client.aclose()
    with_penalty, without = server.chat_requests()
    assert with_penalty["temperature"] == 0.3 and with_penalty["top_p"] == 0.8
    assert with_penalty["max_tokens"] == 77 and with_penalty["seed"] == 5
    assert with_penalty["frequency_penalty"] == pytest.approx(0.25)
    assert "frequency_penalty" not in without and "seed" not in without
    assert with_penalty["messages"] == MESSAGES
