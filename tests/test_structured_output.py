"""Structured commitments: each backend asks for the JSON schema, a refusing server gets the plain request once
remembered, the cache stores what was really asked, and every commitment call of the game sends the schema."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import httpx
import pytest
import torch
from test_baselines import HashEmbedder

from econ.data.datasets import Problem
from econ.devtools.loopback import weak_model_responder
from econ.errors import LLMError
from econ.game import prompts
from econ.game.episode import EpisodeRunner, GameSettings
from econ.game.policy import BeliefPolicy
from econ.llm import LLMClient, ResponseCache, Sampling, cache_key
from econ.llm.local import LocalLlamaBackend
from econ.llm.openai_compatible import OpenAICompatibleBackend
from econ.llm.together import TogetherBackend
from econ.nn.belief import BeliefNetwork

SCHEMA = prompts.COMMITMENT_SCHEMA
MESSAGES = prompts.commitment_messages(
    "Tom has 3 boxes of 7 apples. How many apples?",
    "Multiply.",
    ["3 x 7 = 21, \\boxed{21}", "\\boxed{21}", "I get \\boxed{10}"],
)
PROBLEM = Problem("svamp:s-1", "Tom has 3 boxes with 7 apples each. How many apples does he have?", "21", "svamp")


def backend_for(server) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(model="loopback", base_url=server.base_url)


def sent_formats(server) -> list[dict | None]:
    return [body.get("response_format") for body in server.chat_requests()]


# ---- openai_compatible against the loopback server -------------------------------------------


async def test_openai_compatible_sends_the_schema_as_response_format(loopback):
    backend = backend_for(loopback)
    reply = await backend.complete(MESSAGES, Sampling(seed=1), json_schema=SCHEMA)
    await backend.complete(MESSAGES, Sampling(seed=1))
    await backend.aclose()
    structured, plain = sent_formats(loopback)
    assert structured == {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}}
    assert plain is None and json.loads(reply.text)["answer"] == "42"


async def test_refused_response_format_falls_back_to_the_plain_request_once_for_the_backend(loopback_factory, caplog):
    server = loopback_factory(reject_response_format=True, responder=weak_model_responder)
    client = LLMClient(backend_for(server), max_retries=3, retry_initial_wait_s=0.0)
    with caplog.at_level(logging.WARNING, logger="econ.llm.structured"):
        first = await client.complete(MESSAGES, Sampling(seed=1), role="commitment", problem_id="p", json_schema=SCHEMA)
        second = await client.complete(
            MESSAGES, Sampling(seed=2), role="commitment", problem_id="p", json_schema=SCHEMA
        )
    await client.aclose()
    # one refused request, then only plain ones: the refusal is remembered, never retried as a fault
    assert sent_formats(server) == [
        {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}},
        None,
        None,
    ]
    assert first.text.startswith("Sure!") and second.text.startswith("Sure!")
    assert first.attempts == 1 and first.faults == {} and client.usage.total()["faults"] == {}
    assert not client.backend.json_schema_supported
    warnings = [r for r in caplog.records if "refused response_format" in r.getMessage()]
    assert len(warnings) == 1 and "400" in warnings[0].getMessage()


async def test_a_request_refused_with_and_without_the_schema_fails_and_keeps_the_schema_on(loopback_factory):
    server = loopback_factory(script=["400", "400"])
    backend = backend_for(server)
    with pytest.raises(LLMError, match="400"):
        await backend.complete(MESSAGES, Sampling(seed=1), json_schema=SCHEMA)
    await backend.aclose()
    assert len(server.chat_requests()) == 2 and backend.json_schema_supported


async def test_other_final_statuses_do_not_trigger_the_fallback(loopback_factory):
    server = loopback_factory(script=["404"])
    backend = backend_for(server)
    with pytest.raises(LLMError, match="404"):
        await backend.complete(MESSAGES, Sampling(seed=1), json_schema=SCHEMA)
    await backend.aclose()
    assert len(server.chat_requests()) == 1 and backend.json_schema_supported


async def test_a_fallback_reply_is_cached_under_the_plain_request_it_answered(loopback_factory, tmp_path):
    server = loopback_factory(reject_response_format=True, responder=weak_model_responder)
    cache = ResponseCache(tmp_path / "llm.sqlite")
    client = LLMClient(backend_for(server), cache=cache)
    sampling = Sampling(seed=1)
    reply = await client.complete(MESSAGES, sampling, role="commitment", problem_id="p", json_schema=SCHEMA)
    salt = client.backend.cache_salt
    structured_key = cache_key("openai_compatible", "loopback", MESSAGES, sampling, 0, salt, SCHEMA)
    plain_key = cache_key("openai_compatible", "loopback", MESSAGES, sampling, 0, salt)
    assert cache.get(structured_key) is None and cache.get(plain_key).text == reply.text
    again = await client.complete(MESSAGES, sampling, role="commitment", problem_id="p", json_schema=SCHEMA)
    await client.aclose()
    assert again.cached and len(server.chat_requests()) == 2  # the refused request and its plain twin only


async def test_an_accepted_schema_is_cached_under_its_own_key(loopback, tmp_path):
    cache = ResponseCache(tmp_path / "llm.sqlite")
    client = LLMClient(backend_for(loopback), cache=cache)
    sampling = Sampling(seed=1)
    reply = await client.complete(MESSAGES, sampling, role="commitment", problem_id="p", json_schema=SCHEMA)
    await client.aclose()
    salt = client.backend.cache_salt
    assert cache.get(cache_key("openai_compatible", "loopback", MESSAGES, sampling, 0, salt, SCHEMA)).text == reply.text
    assert cache.get(cache_key("openai_compatible", "loopback", MESSAGES, sampling, 0, salt)) is None


# ---- together: JSON mode through the SDK, offline ----------------------------------------------


def together_reply(text: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def together_backend(monkeypatch, handler) -> TogetherBackend:
    monkeypatch.setenv("TOGETHER_API_KEY", "tgp_v1_secretsecretsecret")
    return TogetherBackend(model="m", http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def test_together_asks_for_the_schema_in_json_mode(monkeypatch):
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=together_reply('{"answer": "21", "justification": "3 x 7"}'))

    together = together_backend(monkeypatch, handler)
    reply = await together.complete(MESSAGES, Sampling(seed=1), json_schema=SCHEMA)
    await together.aclose()
    assert bodies[0]["response_format"] == {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}}
    assert prompts.parse_commitment(reply.text)[0] == "21"


async def test_together_model_without_json_mode_gets_the_plain_request(monkeypatch):
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if "response_format" in body:
            return httpx.Response(400, json={"error": {"message": "response_format is not supported for this model"}})
        return httpx.Response(200, json=together_reply('The answer: {"answer": "21"}'))

    together = together_backend(monkeypatch, handler)
    first = await together.complete(MESSAGES, Sampling(seed=1), json_schema=SCHEMA)
    await together.complete(MESSAGES, Sampling(seed=2), json_schema=SCHEMA)
    await together.aclose()
    assert ["response_format" in body for body in bodies] == [True, False, False]
    assert prompts.parse_commitment(first.text)[0] == "21" and not together.json_schema_supported


# ---- local: a grammar on the embedded SmolLM2 --------------------------------------------------


async def test_embedded_model_under_the_schema_replies_with_one_json_object_of_its_keys():
    # max_tokens above the longest reply the schema allows (every character an escape: ~2 tokens each),
    # so the grammar, not luck, makes each reply a complete object
    backend = LocalLlamaBackend(n_ctx=1024, n_threads=1)
    for seed in (1, 2, 3):
        reply = await backend.complete(
            MESSAGES, Sampling(temperature=0.2, max_tokens=320, seed=seed), json_schema=SCHEMA
        )
        data = json.JSONDecoder(strict=False).decode(reply.text)  # the whole reply, nothing around it
        assert list(data) == ["answer", "justification"] and 1 <= len(data["answer"]) <= 40
        assert len(data["justification"]) <= 80


async def test_embedded_model_without_the_schema_writes_no_json_to_the_same_request():
    backend = LocalLlamaBackend(n_ctx=1024, n_threads=1)
    reply = await backend.complete(MESSAGES, Sampling(temperature=0.2, max_tokens=64, seed=1))
    with pytest.raises(json.JSONDecodeError):
        json.JSONDecoder(strict=False).decode(reply.text)


# ---- the game: every commitment call sends the schema, and only those --------------------------


@dataclass
class PolicyRunner:
    """The game and an untrained belief policy to play it with."""

    runner: EpisodeRunner
    policy: BeliefPolicy

    async def play(self, problem, method: str, k_rounds: int):
        return await self.runner.play(problem, method, k_rounds, self.policy)


def runner(server, n_agents: int = 3, **settings) -> PolicyRunner:
    game = GameSettings(
        n_agents=n_agents,
        top_p=0.9,
        max_tokens_strategy=16,
        max_tokens_executor=32,
        max_tokens_commitment=64,
        coordinator_temperature=0.2,
        threshold=0.0,
        max_rounds=1,
        executors_see_commitment=True,
        seed=0,
        **settings,
    )
    torch.manual_seed(0)
    belief = BeliefNetwork(n_agents, HashEmbedder.dim, belief_dim=8, entity_dim=8, n_heads=2, n_blocks=1).eval()
    client = LLMClient(backend_for(server), max_concurrency=16)
    return PolicyRunner(EpisodeRunner(client, HashEmbedder(), game), BeliefPolicy(belief))


@pytest.mark.parametrize(("n_agents", "group_size"), [(3, None), (8, 2)])
async def test_every_commitment_call_and_only_those_asks_for_the_schema(loopback_factory, n_agents, group_size):
    server = loopback_factory(responder=weak_model_responder)
    result, _ = await runner(server, n_agents, group_size=group_size).play(PROBLEM, "econ", 2)
    commitment_prompts = {json.dumps(call.messages) for call in result.calls if call.role.endswith("commitment")}
    roles = {call.role for call in result.calls}
    for body in server.chat_requests():
        is_commitment = json.dumps(body["messages"]) in commitment_prompts
        assert (body.get("response_format") is not None) == is_commitment
    if group_size:
        assert {"local_commitment", "merge_commitment", "commitment"} <= roles
    assert all(record.commitment_json_ok and not record.commitment_fallback for record in result.rounds)


async def test_structured_commitment_off_sends_plain_commitments(loopback_factory):
    server = loopback_factory(responder=weak_model_responder)
    result, _ = await runner(server, structured_commitment=False).play(PROBLEM, "econ", 1)
    assert all(fmt is None for fmt in sent_formats(server))
    assert [(r.commitment_json_ok, r.commitment_fallback) for r in result.rounds] == [(False, True)]


async def test_a_refusing_server_still_gets_a_commitment_from_the_game(loopback_factory):
    server = loopback_factory(responder=weak_model_responder, reject_response_format=True)
    result, _ = await runner(server).play(PROBLEM, "econ", 2)
    assert sum(fmt is not None for fmt in sent_formats(server)) == 1  # refused once, then plain
    assert all(record.commitment_fallback for record in result.rounds)  # prose: the majority decided
