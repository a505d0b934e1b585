"""The sqlite response cache: hits cost no request, keys see seed and sample index, processes share it."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import sqlite3
import threading
import time

import pytest

from econ.errors import ConfigError, EconError
from econ.llm import LLMClient, ResponseCache, Sampling, cache_key
from econ.llm.base import Completion
from econ.llm.cache import open_sqlite, read_dump
from econ.llm.openai_compatible import OpenAICompatibleBackend

MESSAGES = [{"role": "user", "content": "What is six times seven?"}]


def cached_client(server, path, tolerance: float = 0.0) -> LLMClient:
    backend = OpenAICompatibleBackend(model="loopback", base_url=server.base_url, timeout_s=5)
    return LLMClient(backend, cache=ResponseCache(path), max_retries=0, cache_tolerance=tolerance)


async def test_identical_calls_hit_the_cache(loopback_factory, tmp_path):
    server = loopback_factory(prompt_tokens=10, completion_tokens=5)
    client = cached_client(server, tmp_path / "llm.sqlite")
    first = await client.complete(MESSAGES, Sampling(seed=1), role="executor", problem_id="p")
    second = await client.complete(MESSAGES, Sampling(seed=1), role="executor", problem_id="p")
    await client.aclose()
    assert len(server.requests) == 1
    assert second.cached and not first.cached and second.text == first.text
    total = client.usage.total()
    assert total["calls"] == 1 and total["cache_hits"] == 1
    assert total["prompt_tokens"] == 10 and total["cached_prompt_tokens"] == 10


async def test_cache_survives_a_new_client(loopback_factory, tmp_path):
    server = loopback_factory()
    for _ in range(2):
        client = cached_client(server, tmp_path / "llm.sqlite")
        await client.complete(MESSAGES, Sampling(seed=1), role="executor", problem_id="p")
        await client.aclose()
    assert len(server.requests) == 1


async def test_a_dump_carries_replies_to_a_fresh_cache_and_skips_what_is_carried(loopback_factory, tmp_path):
    server = loopback_factory()
    client = cached_client(server, tmp_path / "old.sqlite")
    for seed in (1, 2):
        await client.complete(MESSAGES, Sampling(seed=seed), role="executor", problem_id="p")
    await client.aclose()
    old = ResponseCache(tmp_path / "old.sqlite")
    assert old.dump(tmp_path / "first.jsonl") == 2 and "What is six" not in (tmp_path / "first.jsonl").read_text()
    first = {entry[0] for entry in read_dump(tmp_path / "first.jsonl")}
    assert old.dump(tmp_path / "none.jsonl", skip=first) == 0 and not (tmp_path / "none.jsonl").exists()
    old.close()

    fresh = ResponseCache(tmp_path / "fresh.sqlite")  # another machine
    assert fresh.load(tmp_path / "first.jsonl") == 2 and len(fresh) == 2
    fresh.load(tmp_path / "first.jsonl")  # loading twice adds nothing
    assert len(fresh) == 2
    fresh.close()
    client = cached_client(server, tmp_path / "fresh.sqlite")
    replay = await client.complete(MESSAGES, Sampling(seed=2), role="executor", problem_id="p")
    await client.aclose()
    assert replay.cached and len(server.requests) == 2


def test_a_damaged_dump_is_one_line_naming_the_line_and_adds_nothing(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    bad = tmp_path / "sitting-01.jsonl"
    good = {"key": "k", "text": "t", "prompt_tokens": 1, "completion_tokens": 2, "latency_s": 0.5, "created": 1.0}
    bad.write_text(json.dumps(good) + '\n{"key": "k2", "text": "t"}\n')
    with pytest.raises(ConfigError, match=r"sitting-01.jsonl:2: not a response dump .*restore the file from git"):
        cache.load(bad)
    bad.write_text(json.dumps(good) + "\n" + json.dumps({**good, "key": "k2", "text": None}) + "\n")
    with pytest.raises(ConfigError, match=r"sitting-01.jsonl:2: a field of the wrong type"):
        cache.load(bad)
    bad.write_text(json.dumps(good) + "\n" + json.dumps({**good, "key": "k2", "call_key": "c"}) + "\n")
    with pytest.raises(ConfigError, match=r"sitting-01.jsonl:2: a field of the wrong type"):
        cache.load(bad)  # a call without its action
    assert len(cache) == 0


def echo_action(request: dict) -> str:
    """A reply that says which action it was sampled at."""
    return f"T={request['temperature']} seed={request['seed']}"


async def test_a_tolerance_serves_the_nearest_carried_reply_of_the_same_call(loopback_factory, tmp_path):
    server = loopback_factory(responder=echo_action)
    recorded = Sampling(temperature=0.7, repetition_penalty=0.3, seed=1)

    def moved(**change) -> Sampling:
        return dataclasses.replace(recorded, **change)

    first = cached_client(server, tmp_path / "old.sqlite")  # the recorded sitting
    for sampling in (recorded, moved(temperature=0.7008), moved(temperature=0.0, seed=3)):
        await first.complete(MESSAGES, sampling, role="executor", problem_id="p")
    await first.aclose()
    old = ResponseCache(tmp_path / "old.sqlite")
    old.dump(tmp_path / "sitting-01.jsonl")
    old.close()
    for name in ("exact", "tolerant"):  # two fresh machines
        ResponseCache(tmp_path / f"{name}.sqlite").load(tmp_path / "sitting-01.jsonl")
    sent = len(server.requests)

    exact = cached_client(server, tmp_path / "exact.sqlite")
    assert not (await exact.complete(MESSAGES, moved(temperature=0.7000001), role="e", problem_id="p")).cached
    await exact.aclose()
    assert len(server.requests) == sent + 1  # without a tolerance, float noise is another call

    tolerant = cached_client(server, tmp_path / "tolerant.sqlite", tolerance=1e-3)

    async def reply(sampling: Sampling):
        return await tolerant.complete(MESSAGES, sampling, role="executor", problem_id="p")

    near = await reply(moved(temperature=0.7002, repetition_penalty=0.2996))
    assert near.cached and near.text == "T=0.7 seed=1"
    assert (await reply(moved(temperature=0.7005))).text == "T=0.7008 seed=1"  # the nearest of two
    sent = len(server.requests)
    for other in (moved(temperature=0.702), moved(repetition_penalty=0.302), moved(seed=2), moved(max_tokens=9)):
        assert not (await reply(other)).cached
    assert not (await reply(moved(temperature=0.0004, seed=3))).cached  # greedy and sampled never match
    # a live reply is never served to another action: only carried ones are
    assert not (await reply(moved(temperature=0.7021))).cached
    await tolerant.aclose()
    assert len(server.requests) == sent + 6


def test_a_dump_of_an_older_version_loads_its_replies_without_their_calls(tmp_path):
    older = {"key": "k", "text": "t", "prompt_tokens": 1, "completion_tokens": 2, "latency_s": 0.5, "created": 1.0}
    (tmp_path / "sitting-01.jsonl").write_text(json.dumps(older) + "\n")
    cache = ResponseCache(tmp_path / "c.sqlite")
    assert cache.load(tmp_path / "sitting-01.jsonl") == 1 and cache.get("k").text == "t"


def test_a_cache_whose_sampled_table_is_of_another_version_is_one_line_and_kept(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE sampled (key TEXT PRIMARY KEY, temperature REAL)")  # no call_key to index
    db.execute("INSERT INTO sampled VALUES ('k', 0.7)")
    db.commit()
    with pytest.raises(ConfigError, match=r"^llm.cache_path=.*old.sqlite: cannot set up the cache's tables"):
        ResponseCache(path)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"sampled"} and db.execute("SELECT * FROM sampled").fetchall() == [("k", 0.7)]
    db.close()


def test_a_cache_tolerance_outside_0_1_is_refused():
    backend = OpenAICompatibleBackend(model="loopback", base_url="http://127.0.0.1:9", timeout_s=5)
    with pytest.raises(ConfigError, match=r"llm.cache_tolerance=-0.1: must be in \[0, 1\)"):
        LLMClient(backend, cache_tolerance=-0.1)


def test_a_dump_never_replaces_an_earlier_one(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put("k", Completion("reply", 1, 2, 0.0))
    earlier = tmp_path / "sitting-01.jsonl"
    earlier.write_text("kept\n")
    with pytest.raises(EconError, match=r"sitting-01.jsonl exists: a dump never replaces one"):
        cache.dump(earlier)
    assert earlier.read_text() == "kept\n"


async def test_seed_or_sample_index_change_is_a_miss(loopback_factory, tmp_path):
    server = loopback_factory()
    client = cached_client(server, tmp_path / "llm.sqlite")
    await client.complete(MESSAGES, Sampling(seed=1), role="executor", problem_id="p")
    await client.complete(MESSAGES, Sampling(seed=2), role="executor", problem_id="p")
    await client.complete(MESSAGES, Sampling(seed=1), role="executor", problem_id="p", sample_index=1)
    await client.aclose()
    assert len(server.requests) == 3


def test_key_depends_on_every_input():
    base = cache_key("local", "m", MESSAGES, Sampling(), 0)
    assert base == cache_key("local", "m", [dict(MESSAGES[0])], Sampling(), 0)
    variants = [
        cache_key("together", "m", MESSAGES, Sampling(), 0),
        cache_key("local", "m2", MESSAGES, Sampling(), 0),
        cache_key("local", "m", MESSAGES + [{"role": "user", "content": "x"}], Sampling(), 0),
        cache_key("local", "m", MESSAGES, Sampling(temperature=0.71), 0),
        cache_key("local", "m", MESSAGES, Sampling(repetition_penalty=0.1), 0),
        cache_key("local", "m", MESSAGES, Sampling(), 0, salt="base_url"),
    ]
    assert len({base, *variants}) == 1 + len(variants)


def test_plain_requests_keep_their_keys_and_a_schema_changes_the_key():
    # recorded before structured output existed: caches filled then still hit
    plain = cache_key("local", "m", MESSAGES, Sampling(seed=1), 0, "s")
    assert plain == "5b78d1798ae12832da891dfc94cc4109dcee93fc7123367d582f8a47011659c5"
    assert cache_key("local", "m", MESSAGES, Sampling(seed=1), 0, "s", json_schema=None) == plain
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    assert cache_key("local", "m", MESSAGES, Sampling(seed=1), 0, "s", json_schema=schema) != plain


def _writer(path: str, worker: int, n: int) -> None:
    cache = ResponseCache(path)
    for i in range(n):
        shared = cache_key("b", "m", [{"role": "user", "content": f"shared {i}"}], Sampling(), 0)
        own = cache_key("b", "m", [{"role": "user", "content": f"worker {worker} {i}"}], Sampling(), 0)
        cache.put(shared, Completion(f"shared {i} by {worker}", 1, 2, 0.0))
        cache.put(own, Completion(f"own {worker} {i}", 3, 4, 0.0))
        assert cache.get(shared) is not None
    cache.close()


def test_a_cache_file_another_job_holds_is_waited_for_not_refused(tmp_path):
    path = tmp_path / "llm.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # a new file: not yet WAL
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # another sweep job, mid-write
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    start = time.monotonic()
    conn = open_sqlite(path)  # was: "cannot open the cache (database is locked)" at once
    release.join()
    assert time.monotonic() - start >= 0.4
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_processes_writing_at_once_stay_consistent(tmp_path):
    path = str(tmp_path / "llm.sqlite")
    ResponseCache(path).close()  # create the schema before the race
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(path, w, 60)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
    assert [p.exitcode for p in workers] == [0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 60 + 2 * 60
    for i in range(60):
        hit = cache.get(cache_key("b", "m", [{"role": "user", "content": f"shared {i}"}], Sampling(), 0))
        assert hit.text in (f"shared {i} by 0", f"shared {i} by 1") and hit.cached
    assert (
        cache.get(cache_key("b", "m", [{"role": "user", "content": "worker 1 59"}], Sampling(), 0)).text == "own 1 59"
    )
    cache.close()
