"""What the benchmarks share: a loopback server in its own process, timed backends, problems, tables.

The server runs in a child process so that its threads (one per request) do not compete with
the benchmarked event loop for the GIL, and its request log does not count in our memory.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT_TOKENS = 300  # reported usage of every call: fixed, so token accounting is comparable
COMPLETION_TOKENS = 200
ANSWER_WORDS = 150  # an executor answer as long as a real one: MiniLM's cost grows with the text
STRATEGY_WORDS = 40
REMOTE_EMBEDDING_DIM = 64
KEY_ENV = "ECON_BENCH_LOOPBACK_KEY"  # the loopback server ignores keys; the SDK insists on one
_WORDS = (
    "first read the quantities given in the problem then combine them one step at a time and check each "
    "intermediate result against the question before moving on to the next step"
).split()


def responder(request: dict) -> str:
    """A deterministic reply per (seed, prompt): a strategy, a JSON commitment or a boxed solution.

    Replies differ between calls (as a real model's do), so no embedding is a cache hit by accident.
    """
    last = str((request.get("messages") or [{}])[-1].get("content", ""))
    digest = hashlib.sha256(json.dumps([request.get("seed"), last]).encode()).digest()
    value = 1 + digest[0] % 20
    if "json" in last.lower():
        return json.dumps({"answer": str(value), "justification": "Most solvers reached this value the same way."})
    words = STRATEGY_WORDS if "short strategy" in last.lower() else ANSWER_WORDS
    body = " ".join(_WORDS[(i * 7 + digest[1 + i % 8]) % len(_WORDS)] for i in range(words))
    return f"{body}. So the answer is \\boxed{{{value}}}"


def _serve(conn, options: dict) -> None:
    from econ.devtools.loopback import LoopbackServer

    with LoopbackServer(responder=responder, **options) as server:
        conn.send(server.base_url)
        while (command := conn.recv()) != "stop":
            if command == "count":
                conn.send(sum(1 for r in server.requests if r.path.endswith("/chat/completions")))
            elif command == "max_in_flight":
                conn.send(server.max_in_flight)


class ServerProcess:
    """A `LoopbackServer` (fixed latency, fixed token counts) in a child process."""

    def __init__(self, latency_s: float, capacity: int = 256):
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        options = dict(
            latency_s=latency_s,
            capacity=capacity,
            prompt_tokens=PROMPT_TOKENS,
            completion_tokens=COMPLETION_TOKENS,
            embedding_dim=REMOTE_EMBEDDING_DIM,
        )
        self._process = context.Process(target=_serve, args=(child, options), daemon=True)
        self._process.start()
        if not self._conn.poll(120):  # the child died (its traceback is on stderr) or hangs
            self._process.kill()
            raise SystemExit("the loopback server process did not start")
        self.base_url: str = self._conn.recv()
        self.latency_s = latency_s

    def chat_requests(self) -> int:
        """Chat-completion requests received so far."""
        self._conn.send("count")
        return self._conn.recv()

    def max_in_flight(self) -> int:
        self._conn.send("max_in_flight")
        return self._conn.recv()

    def close(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class TimedBackend:
    """Wraps a backend and records (start, end) of every call: the LLM's own share of the time."""

    inner: object
    spans: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.backend = self.inner.backend
        self.model = self.inner.model
        self.cache_salt = getattr(self.inner, "cache_salt", "")

    async def complete(self, messages, sampling, **kwargs):
        start = time.perf_counter()
        try:
            return await self.inner.complete(messages, sampling, **kwargs)
        finally:
            self.spans.append((start, time.perf_counter()))

    async def aclose(self) -> None:
        await self.inner.aclose()


class TimedEmbedder:
    """Wraps an embedder; sums the wall and CPU seconds of its encodes, on the critical path or not."""

    def __init__(self, inner):
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.max_parallel_encodes = getattr(inner, "max_parallel_encodes", 1)
        self.encoding = getattr(inner, "encoding", None)  # keys the cache as the inner embedder would
        self.seconds = self.cpu_seconds = 0.0

    def encode(self, texts):
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return self.inner.encode(texts)
        finally:
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.thread_time() - cpu

    def reset(self) -> None:
        self.seconds = self.cpu_seconds = 0.0


EMBEDDERS = ("minilm", "remote")


def timed_embedder(kind: str, remote: ServerProcess | None = None) -> TimedEmbedder:
    """The default MiniLM on CPU, or a remote embedding API at a loopback server, timed.

    "remote" is econ's Together embedder pointed at a zero-latency loopback server: what is left
    of the framework when embeddings are not computed on this machine's CPU.
    """
    if kind == "minilm":
        from econ.embed.local import LocalEmbedder

        return TimedEmbedder(LocalEmbedder(device="cpu"))
    from econ.embed.together import TogetherEmbedder

    os.environ.setdefault(KEY_ENV, "loopback")
    return TimedEmbedder(
        TogetherEmbedder(model="loopback", dim=REMOTE_EMBEDDING_DIM, base_url=remote.base_url, api_key_env=KEY_ENV)
    )


def cached(timed: TimedEmbedder, cache_dir: Path, memory_items: int = 50_000):
    """The embedder as a run builds it (conf/embedder): an LRU and a sqlite table in front of it."""
    from econ.embed.cache import CachedEmbedder

    return CachedEmbedder(timed, cache_path=Path(cache_dir) / "llm.sqlite", memory_items=memory_items)


def critical_path(spans: Sequence[tuple[float, float]]) -> float:
    """Seconds of LLM time on the critical path of calls made one stage after another.

    A call that starts after every earlier call has ended opens a new stage (strategy, a round's
    executors, commitment); a stage costs its slowest call. Waiting for a free slot (a semaphore
    smaller than the stage) is therefore not LLM time: it shows up as overhead.
    """
    total, stage_max, stage_end = 0.0, 0.0, float("-inf")
    for start, end in sorted(spans):
        if start >= stage_end:
            total += stage_max
            stage_max = 0.0
        stage_max = max(stage_max, end - start)
        stage_end = max(stage_end, end)
    return total + stage_max


def loopback_client(server: ServerProcess, max_concurrency: int, cache_path: Path | None = None):
    """(LLMClient, TimedBackend) talking to the loopback server; with a sqlite cache when cache_path is set."""
    from econ.llm.cache import ResponseCache
    from econ.llm.client import LLMClient
    from econ.llm.openai_compatible import OpenAICompatibleBackend

    backend = TimedBackend(OpenAICompatibleBackend(model="loopback", base_url=server.base_url))
    cache = ResponseCache(cache_path) if cache_path is not None else None
    return LLMClient(backend, cache=cache, max_concurrency=max_concurrency), backend


async def timed_evaluation(
    server: ServerProcess,
    embedder,
    pool: list,
    n: int,
    k: int,
    run_dir: Path,
    concurrency: int,
    max_concurrency: int,
    cache_path: Path | None = None,
    after_problem: Callable[[TimedBackend], None] | None = None,
) -> tuple[float, float, list]:
    """(wall seconds, CPU seconds of this process, results) of one ECON evaluation of `pool` (untrained policy).

    `after_problem(backend)` runs as each problem ends, inside the timed span.
    """
    from econ.eval.loop import evaluate
    from econ.game.episode import EpisodeRunner, GameSettings
    from econ.game.policy import BeliefPolicy
    from econ.run.jsonl import JsonlLog

    cfg = game_config(n)
    client, backend = loopback_client(server, max_concurrency, cache_path=cache_path)
    runner = EpisodeRunner(client, embedder, GameSettings.from_config(cfg))
    policy = BeliefPolicy(belief_network(cfg, embedder.dim))

    async def play(problem):
        result, _ = await runner.play(problem, "econ", k, policy)
        if after_problem is not None:
            after_problem(backend)
        return result

    traces = JsonlLog(run_dir / "traces.jsonl")
    try:
        start, cpu = time.perf_counter(), time.process_time()
        results = await evaluate(pool, play, "econ", run_dir, traces, concurrency, policy="bench")
        return time.perf_counter() - start, time.process_time() - cpu, results
    finally:
        traces.close()
        await client.aclose()


def belief_network(cfg, obs_dim: int, seed: int = 0):
    """An untrained belief network of the configured sizes, in eval mode (as in evaluation)."""
    import torch

    from econ.nn.belief import BeliefNetwork

    torch.manual_seed(seed)
    return BeliefNetwork.untrained(cfg.agents, cfg.agents.n_agents, obs_dim)


class ForwardTimer:
    """Sums the seconds of a module's forward passes made in eval mode (acting, not learning)."""

    def __init__(self, module):
        self.seconds, self._start = 0.0, 0.0
        module.register_forward_pre_hook(self._before)
        module.register_forward_hook(self._after)

    def _before(self, module, args) -> None:
        self._start = time.perf_counter()

    def _after(self, module, args, output) -> None:
        if not module.training:
            self.seconds += time.perf_counter() - self._start


def problems(n: int, dataset: str = "gsm8k") -> list:
    """n real test problems of a shipped dataset (gsm8k has 1319)."""
    from hydra import compose, initialize_config_dir

    from econ.data.datasets import load_splits

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"dataset={dataset}"])
    test = load_splits(cfg.dataset, cfg.seed).test
    if len(test) < n:
        raise SystemExit(f"{dataset} has only {len(test)} test problems, asked for {n}")
    return list(test[:n])


def game_config(n_agents: int, **agents):
    """The default `agents`/`bne`/`seed` config with n_agents (and any agents.* overrides)."""
    from hydra import compose, initialize_config_dir

    overrides = [f"agents.n_agents={n_agents}"] + [f"agents.{k}={v}" for k, v in agents.items()]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("evaluate", overrides=overrides)


def rss_mb() -> float:
    """Current resident set size of this process in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine_note() -> str:
    """One line that says how busy the machine was: ratios of CPU work to fixed latency depend on it."""
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A small markdown table on stdout (pasteable into benchmarks/README.md)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(_cell(v) for v in row) + " |")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)
