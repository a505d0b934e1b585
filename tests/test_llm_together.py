"""TogetherBackend and TogetherEmbedder against httpx.MockTransport: paths, keys, error classes."""

from __future__ import annotations

import json

import httpx
import pytest

from econ.errors import ConfigError, LLMError
from econ.llm import LLMClient, Sampling
from econ.llm.faults import Fault
from econ.llm.together import TogetherBackend

KEY = "tgp_v1_secretsecretsecret"
MESSAGES = [{"role": "user", "content": "What is six times seven?"}]


def chat_reply(text="Six times seven is \\boxed{42}", prompt_tokens=11, completion_tokens=7) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": 18},
    }


class Recorder:
    """A MockTransport handler replaying `replies` (status, json body, headers) and recording requests."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body, headers = self.replies.pop(0)
        return httpx.Response(status, json=body, headers=headers)


def backend(handler, base_url=None, monkeypatch=None) -> TogetherBackend:
    monkeypatch.setenv("TOGETHER_API_KEY", KEY)
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return TogetherBackend(model="meta-llama/Llama-3.3-70B-Instruct-Turbo", base_url=base_url, http_client=client)


@pytest.mark.parametrize("base_url", [None, "https://api.together.xyz/v1", "https://api.together.xyz/v1/"])
async def test_request_goes_to_v1_chat_completions_once(monkeypatch, base_url):
    handler = Recorder((200, chat_reply(), {}))
    together = backend(handler, base_url, monkeypatch)
    completion = await together.complete(MESSAGES, Sampling(seed=3, repetition_penalty=1.0))
    await together.aclose()
    (request,) = handler.requests
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(request.content)
    assert body["seed"] == 3 and body["repetition_penalty"] == pytest.approx(1.3)
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == (
        "Six times seven is \\boxed{42}",
        11,
        7,
    )


async def test_429_is_retryable_with_retry_after(monkeypatch):
    handler = Recorder((429, {"error": {"message": "slow down"}}, {"Retry-After": "2"}))
    together = backend(handler, monkeypatch=monkeypatch)
    with pytest.raises(Fault) as info:
        await together.complete(MESSAGES, Sampling())
    await together.aclose()
    assert info.value.kind == "429" and info.value.retry_after_s == 2.0
    assert len(handler.requests) == 1  # the SDK itself does not retry


async def test_500_is_retryable(monkeypatch):
    together = backend(Recorder((500, {"error": {"message": "boom"}}, {})), monkeypatch=monkeypatch)
    with pytest.raises(Fault) as info:
        await together.complete(MESSAGES, Sampling())
    await together.aclose()
    assert info.value.kind == "5xx"


async def test_401_is_final_and_never_shows_the_key(monkeypatch):
    body = {"error": {"message": f"Invalid API key provided: {KEY}"}}
    handler = Recorder((401, body, {}), (401, body, {}))
    together = backend(handler, monkeypatch=monkeypatch)
    client = LLMClient(together, max_retries=3, retry_initial_wait_s=0.01)
    with pytest.raises(LLMError) as info:
        await client.complete(MESSAGES, Sampling(), role="executor", problem_id="p")
    await client.aclose()
    assert str(info.value) == "together: 401 Unauthorized — check TOGETHER_API_KEY"
    assert len(handler.requests) == 1


async def test_400_message_masks_an_echoed_key(monkeypatch):
    handler = Recorder((400, {"error": {"message": f"bad max_tokens for key {KEY}"}}, {}))
    together = backend(handler, monkeypatch=monkeypatch)
    with pytest.raises(LLMError) as info:
        await together.complete(MESSAGES, Sampling())
    await together.aclose()
    assert "400 Bad Request" in str(info.value) and "bad max_tokens" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(together)


async def test_malformed_and_empty_replies_are_retryable(monkeypatch):
    handler = Recorder((200, {"unexpected": True}, {}), (200, chat_reply(text="   "), {}))
    together = backend(handler, monkeypatch=monkeypatch)
    kinds = []
    for _ in range(2):
        with pytest.raises(Fault) as info:
            await together.complete(MESSAGES, Sampling())
        kinds.append(info.value.kind)
    await together.aclose()
    assert kinds == ["malformed", "empty"]


def test_missing_key_is_a_config_error_naming_the_variable(no_api_keys):
    with pytest.raises(ConfigError, match="TOGETHER_API_KEY"):
        TogetherBackend(model="m")


def test_together_embedder_batches_and_normalises(monkeypatch):
    from econ.embed.together import TogetherEmbedder

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        texts = json.loads(request.content)["input"]
        data = [{"object": "embedding", "index": i, "embedding": [3.0, 4.0, 0.0]} for i in range(len(texts))]
        return httpx.Response(200, json={"object": "list", "model": "m", "data": data})

    monkeypatch.setenv("TOGETHER_API_KEY", KEY)
    embedder = TogetherEmbedder(dim=3, batch_size=2, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    vectors = embedder.encode(["a", "b", "c"])
    assert vectors.shape == (3, 3) and [c.url.path for c in calls] == ["/v1/embeddings"] * 2
    assert vectors[0].tolist() == pytest.approx([0.6, 0.8, 0.0])
