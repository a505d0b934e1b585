"""Episode wall time over the critical path of its LLM calls, for N executors and K BNE rounds.

    python -m benchmarks.bench_episode                          # MiniLM on CPU and a remote embedder, side by side
    python -m benchmarks.bench_episode --embedders remote --ns 32 --ks 1

The server answers every call after a fixed latency (200 ms) with fixed token counts. An episode plays
exactly K rounds (the fixed-point stop is off). The critical path is computed from the actual call
records: the spans of the backend calls, grouped into stages (strategy, each round's executors,
commitment), each stage costing its slowest call; `latency x depth` = latency · (1 + 2K) is shown
beside it (the stricter ratio: it also counts the HTTP client's own time inside the spans as overhead).
llm.max_concurrency is max(N, 4) so that a round's executors overlap; one extra row per embedder
shows the largest N under the default of 4.

"minilm" is the default embedder (all-MiniLM-L6-v2 on this CPU); "remote" is econ's Together
embedder at a zero-latency loopback server: what is left of the framework when embeddings are not
computed here. Between two LLM calls an episode must encode the strategy, or the last commitment, and
run the belief network; a round's N answers are encoded while its commitment call runs. "encode CPU s"
and "process CPU s" (per episode, this process, all threads) show when the CPU, not the code, bounds it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import (
    EMBEDDERS,
    ForwardTimer,
    ServerProcess,
    belief_network,
    cached,
    critical_path,
    game_config,
    loopback_client,
    machine_note,
    median,
    print_table,
    problems,
    timed_embedder,
)

TARGET = 1.05


async def measure(
    server: ServerProcess, embedder, timed, n: int, k: int, reps: int, concurrency: int, pool: list
) -> dict:
    """Medians over `reps` fresh problems, after one warm-up episode."""
    from econ.game.episode import EpisodeRunner, GameSettings
    from econ.game.policy import BeliefPolicy

    cfg = game_config(n)
    settings = dataclasses.replace(GameSettings.from_config(cfg), threshold=0.0)  # always play K rounds
    belief = belief_network(cfg, embedder.dim)
    forward = ForwardTimer(belief)
    client, backend = loopback_client(server, concurrency)
    runner = EpisodeRunner(client, embedder, settings)
    policy = BeliefPolicy(belief)
    rows = []
    try:
        for i in range(reps + 1):
            backend.spans.clear()
            timed.reset()
            forward.seconds = 0.0
            start, cpu = time.perf_counter(), time.process_time()
            await runner.play(pool.pop(), "bench", k, policy)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            if i > 0:  # the first episode pays for connections and lazy initialisation
                rows.append(
                    (wall, critical_path(backend.spans), timed.seconds, timed.cpu_seconds, cpu, forward.seconds)
                )
    finally:
        await client.aclose()
    walls, paths, embeds, embed_cpu, cpus, forwards = (median(column) for column in zip(*rows))
    ideal = server.latency_s * (1 + 2 * k)
    return {
        "wall": walls,
        "path": paths,
        "ideal": ideal,
        "ratio": median([r[0] / r[1] for r in rows]),
        "ratio_ideal": walls / ideal,
        "embed": embeds,
        "embed_cpu": embed_cpu,
        "cpu": cpus,
        "forward": forwards,
    }


def verdict(ratio: float, n: int, concurrency: int) -> str:
    """Whether the row meets the target; rows whose executors run in waves are not held to it."""
    if concurrency < n:
        return "n/a: executors in waves"
    return "yes" if ratio <= TARGET else "no"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per LLM call")
    parser.add_argument("--reps", type=int, default=3, help="measured episodes per (N, K)")
    parser.add_argument("--ns", type=int, nargs="+", default=[3, 8, 32])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--embedders", choices=EMBEDDERS, nargs="+", default=list(EMBEDDERS))
    parser.add_argument("--torch-threads", type=int, default=1, help="as learner.torch_threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    settings = [(n, k, max(n, 4)) for n in args.ns for k in args.ks]
    settings += [(n, 1, 4) for n in args.ns if n > 4][-1:]  # the default llm.max_concurrency = 4
    pool = problems(len(args.embedders) * len(settings) * (args.reps + 1))
    rows = []
    with (
        ServerProcess(args.latency) as server,
        ServerProcess(0.0) as embed_server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        loop = asyncio.new_event_loop()
        for kind in args.embedders:
            timed = timed_embedder(kind, embed_server)
            embedder = cached(timed, Path(tmp) / kind)
            for n, k, concurrency in settings:
                m = loop.run_until_complete(measure(server, embedder, timed, n, k, args.reps, concurrency, pool))
                rows.append(
                    (
                        kind,
                        n,
                        k,
                        concurrency,
                        m["wall"],
                        m["path"],
                        m["ideal"],
                        m["ratio"],
                        m["ratio_ideal"],
                        m["embed"],
                        m["embed_cpu"],
                        m["cpu"],
                        m["forward"] * 1000,
                        verdict(m["ratio"], n, concurrency),
                    )
                )
        loop.close()
    print_table(
        f"Episode wall / LLM critical path: {args.latency * 1000:.0f} ms per call, median of {args.reps} episodes, "
        f"torch threads {args.torch_threads} ({machine_note()})",
        [
            "embedder",
            "N",
            "K",
            "max_concurrency",
            "wall s",
            "critical path s (call records)",
            "latency x depth s",
            "wall / critical path",
            "wall / (latency x depth)",
            "encode wall s",
            "encode CPU s",
            "process CPU s",
            "belief fwd ms",
            f"wall / critical path <= {TARGET}",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
