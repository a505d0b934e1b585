"""Performance contracts that are behaviours, not timings: overlap, no repeated work, order-independence.

The timings themselves are measured by the scripts in benchmarks/.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from econ.data.datasets import Problem
from econ.embed import CachedEmbedder
from econ.embed.offload import encode_async
from econ.eval.loop import evaluate
from econ.game.episode import EpisodeRunner, GameSettings
from econ.game.policy import BeliefPolicy
from econ.llm.cache import ResponseCache
from econ.llm.client import LLMClient
from econ.llm.openai_compatible import OpenAICompatibleBackend
from econ.nn.belief import BeliefNetwork
from econ.run.jsonl import JsonlLog, read_jsonl

REPO = Path(__file__).resolve().parents[1]
PROBLEMS = [
    Problem(
        f"p:{i}", f"Ann has {i} apples and buys {i + 2} more. How many apples does she have?", str(2 * i + 2), "svamp"
    )
    for i in range(6)
]


class RecordingEmbedder:
    """Hash vectors; records every text it encodes and the thread that encoded it."""

    name, dim = "recording-hash", 8

    def __init__(self):
        self.texts: list[str] = []
        self.threads: set[str] = set()

    def encode(self, texts: list[str]) -> torch.Tensor:
        self.texts.extend(texts)
        self.threads.add(threading.current_thread().name)
        rows = [[b - 128.0 for b in hashlib.sha256(t.encode()).digest()[: self.dim]] for t in texts]
        return torch.nn.functional.normalize(torch.tensor(rows).reshape(len(texts), self.dim), dim=-1)


def sampled_responder(request: dict) -> str:
    """Replies that depend on the seed and temperature sent: other actions give other answers."""
    last = request["messages"][-1]["content"]
    digest = hashlib.sha256(json.dumps([request.get("seed"), request.get("temperature"), last]).encode()).digest()
    if "json" in last.lower():
        return json.dumps({"answer": str(digest[0] % 4), "justification": "most solvers agree"})
    return f"Working it out ({digest.hex()[:12]}) gives \\boxed{{{digest[0] % 4}}}"


@dataclass
class PolicyRunner:
    """The game and the untrained policy the contracts play it with."""

    runner: EpisodeRunner
    policy: BeliefPolicy

    @property
    def client(self) -> LLMClient:
        return self.runner.client

    async def play(self, problem, method: str, k_rounds: int):
        return await self.runner.play(problem, method, k_rounds, self.policy)


def make_runner(
    server,
    embedder,
    n_agents: int = 3,
    max_concurrency: int | None = None,
    cache: ResponseCache | None = None,
    threshold: float | None = None,
) -> PolicyRunner:
    overrides = [f"agents.n_agents={n_agents}"] + ([f"bne.threshold={threshold}"] if threshold is not None else [])
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("evaluate", overrides=overrides)
    torch.manual_seed(0)
    belief = BeliefNetwork(
        n_agents, embedder.dim, belief_dim=16, entity_dim=32, n_heads=2, n_blocks=1, dropout=0.0
    ).eval()
    client = LLMClient(
        OpenAICompatibleBackend(model="loopback", base_url=server.base_url),
        cache=cache,
        max_concurrency=max_concurrency or n_agents,
    )
    return PolicyRunner(EpisodeRunner(client, embedder, GameSettings.from_config(cfg)), BeliefPolicy(belief))


async def evaluate_with(runner: PolicyRunner, run_dir, concurrency: int = 1, k_rounds: int = 2):
    async def play(problem):
        result, _ = await runner.play(problem, "econ", k_rounds)
        return result

    traces = JsonlLog(run_dir / "traces.jsonl")
    try:
        return await evaluate(PROBLEMS, play, "econ", run_dir, traces, concurrency, policy="test")
    finally:
        traces.close()
        await runner.client.aclose()


def outcome(results) -> list:
    return [
        (r.problem_id, r.final_answer, [(rd.actions, rd.answers, rd.commitment) for rd in r.rounds]) for r in results
    ]


async def test_a_rounds_executors_are_in_flight_together(loopback_factory):
    server = loopback_factory(latency_s=0.1, responder=sampled_responder)
    runner = make_runner(server, RecordingEmbedder(), n_agents=4)
    await runner.play(PROBLEMS[0], "econ", 1)
    await runner.client.aclose()
    assert server.max_in_flight == 4


def test_max_concurrency_below_n_agents_is_warned(loopback, caplog):
    with caplog.at_level(logging.WARNING, logger="econ.game.episode"):
        make_runner(loopback, RecordingEmbedder(), n_agents=4, max_concurrency=2)
    assert "llm.max_concurrency=2 < agents.n_agents=4" in caplog.text


async def test_episode_embeds_each_text_once_off_the_event_loop(loopback_factory):
    embedder = RecordingEmbedder()
    runner = make_runner(
        loopback_factory(responder=sampled_responder), embedder, n_agents=3, threshold=0.0
    )  # threshold 0: all K rounds are played
    result, _ = await runner.play(PROBLEMS[0], "econ", 3)
    await runner.client.aclose()
    assert result.rounds_used == 3
    # question, strategy, then per round the three answers, their three answer sentences and the commitment's
    assert len(embedder.texts) == 2 + 3 * (3 + 3 + 1)
    assert all(name.startswith("econ-embed") for name in embedder.threads)


async def test_results_do_not_depend_on_problem_concurrency(loopback_factory, tmp_path):
    sequential_server = loopback_factory(latency_s=0.02, responder=sampled_responder)
    concurrent_server = loopback_factory(latency_s=0.02, responder=sampled_responder)
    sequential = await evaluate_with(make_runner(sequential_server, RecordingEmbedder()), tmp_path / "c1", 1)
    concurrent = await evaluate_with(
        make_runner(concurrent_server, RecordingEmbedder(), max_concurrency=12), tmp_path / "c4", 4
    )
    assert outcome(concurrent) == outcome(sequential)
    assert concurrent_server.max_in_flight > 3  # executors of different problems overlapped


async def test_identical_rerun_sends_no_request_and_gives_identical_results(loopback_factory, tmp_path):
    loopback = loopback_factory(responder=sampled_responder)
    cache = tmp_path / "llm.sqlite"
    first = await evaluate_with(
        make_runner(loopback, CachedEmbedder(RecordingEmbedder(), cache), cache=ResponseCache(cache)), tmp_path / "a"
    )
    sent = len(loopback.chat_requests())
    inner = RecordingEmbedder()  # a new process: empty memory, same cache file
    again = await evaluate_with(
        make_runner(loopback, CachedEmbedder(inner, cache), cache=ResponseCache(cache)), tmp_path / "b"
    )
    assert len(loopback.chat_requests()) == sent
    assert inner.texts == []
    assert all(r.cache_hits == r.llm_calls > 0 for r in again)
    assert outcome(again) == outcome(first)


async def test_evaluation_streams_calls_to_traces_and_keeps_none_in_memory(loopback, tmp_path):
    results = await evaluate_with(make_runner(loopback, RecordingEmbedder()), tmp_path)
    assert all(r.calls == [] for r in results)
    traced = {r["problem_id"]: r for r in read_jsonl(tmp_path / "traces.jsonl")}
    assert all(len(traced[r.problem_id]["calls"]) == r.llm_calls for r in results)


class RendezvousEmbedder:
    """A remote-like embedder whose encode returns only once two encodes are running at the same time."""

    name, dim, max_parallel_encodes = "rendezvous", 2, 2

    def __init__(self):
        self.barrier = threading.Barrier(2, timeout=30)

    def encode(self, texts: list[str]) -> torch.Tensor:
        self.barrier.wait()
        return torch.ones(len(texts), self.dim)


class OneAtATimeEmbedder(RecordingEmbedder):
    """A CPU-like embedder (no max_parallel_encodes) that records how many encodes overlapped."""

    def __init__(self):
        super().__init__()
        self.running = self.most_running = 0
        self.lock = threading.Lock()

    def encode(self, texts: list[str]) -> torch.Tensor:
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            threading.Event().wait(0.02)  # long enough for a second encode to start if it could
            return super().encode(texts)
        finally:
            with self.lock:
                self.running -= 1


async def test_remote_embedders_encode_in_parallel_and_cpu_ones_one_at_a_time(tmp_path):
    remote = CachedEmbedder(RendezvousEmbedder(), tmp_path / "e.sqlite")  # the cache passes the width on
    await asyncio.gather(encode_async(remote, ["a"]), encode_async(remote, ["b"]))  # would wait forever if serial
    cpu = OneAtATimeEmbedder()
    await asyncio.gather(*(encode_async(cpu, [str(i)]) for i in range(4)))
    assert cpu.most_running == 1
