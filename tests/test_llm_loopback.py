"""The loopback server itself: routes, recorded requests, seeded faults, bounded capacity."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from econ.devtools.loopback import LoopbackServer, default_responder, weak_model_responder


def post_chat(server, content="hi", **extra) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(server.base_url + "/chat/completions", json=body, timeout=5)


def test_default_replies_box_an_answer_or_commit_in_json(loopback):
    reasoning = post_chat(loopback).json()["choices"][0]["message"]["content"]
    commitment = post_chat(loopback, "Reply with a JSON object").json()["choices"][0]["message"]["content"]
    assert reasoning.endswith("\\boxed{42}")
    assert json.loads(commitment)["answer"] == "42"
    assert [b["messages"][0]["content"] for b in loopback.chat_requests()] == ["hi", "Reply with a JSON object"]


def test_both_chat_paths_and_embeddings_are_served(loopback_factory):
    server = loopback_factory(prompt_tokens=3, completion_tokens=4, embedding_dim=8)
    plain = httpx.post(server.url + "/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
    assert plain.json()["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    emb = httpx.post(server.base_url + "/embeddings", json={"model": "e", "input": ["a", "b", "a"]}).json()
    vectors = [d["embedding"] for d in emb["data"]]
    assert len(vectors) == 3 and len(vectors[0]) == 8 and vectors[0] == vectors[2] != vectors[1]


def test_seeded_fault_rates_repeat_exactly():
    def run() -> list[int]:
        with LoopbackServer(fault_rates={"500": 0.3, "429": 0.2}, seed=3, retry_after_s=None) as server:
            return [post_chat(server).status_code for _ in range(20)]

    first = run()
    assert first == run() and {500, 429, 200} <= set(first)


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        LoopbackServer(script=["418"])


def test_capacity_makes_extra_requests_wait(loopback_factory):
    server = loopback_factory(latency_s=0.2, capacity=1)
    threads = [threading.Thread(target=post_chat, args=(server,)) for _ in range(3)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.perf_counter() - start >= 0.55 and server.max_in_flight == 1


def test_default_responder_reads_only_the_last_message():
    request = {"messages": [{"role": "system", "content": "answer in JSON"}, {"role": "user", "content": "2+2?"}]}
    assert "\\boxed" in default_responder(request)


def test_response_format_is_answered_in_json_or_refused_with_a_400_naming_it(loopback_factory):
    schema = {"type": "json_schema", "json_schema": {"name": "reply", "schema": {"type": "object"}}}
    weak = loopback_factory(responder=weak_model_responder)
    constrained = post_chat(weak, "Decide.", response_format=schema).json()["choices"][0]["message"]["content"]
    asked_in_words = post_chat(weak, "Reply with a JSON object").json()["choices"][0]["message"]["content"]
    assert json.loads(constrained)["answer"] == "42" and "{" not in asked_in_words
    refusing = loopback_factory(reject_response_format=True)
    refused = post_chat(refusing, "Decide.", response_format=schema)
    assert refused.status_code == 400 and "response_format" in refused.json()["error"]["message"]
    assert post_chat(refusing, "Decide.").status_code == 200
