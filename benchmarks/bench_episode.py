"""Episode wall time over the critical path of its LLM calls, for N executors and K BNE rounds.

    python -m benchmarks.bench_episode                      # N = 3, 8, 32; K = 1, 3; 200 ms per call
    python -m benchmarks.bench_episode --embedder remote    # embeddings off this CPU

The server answers every call after a fixed latency with fixed token counts. An episode plays
exactly K rounds (the fixed-point stop is off). The critical path is computed from the actual
call records: the spans of the backend calls, grouped into stages (strategy, each round's
executors, commitment), each stage costing its slowest call; `latency x depth` =
latency · (1 + 2K) is shown beside it. llm.max_concurrency is set to max(N, 4) so that a
round's executors overlap; one extra row shows N = 32 under the default of 4.
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
    EMBEDDERS, ForwardTimer, ServerProcess, belief_network, cached, critical_path, game_config, loopback_client,
    machine_note, median, print_table, problems, timed_embedder,
)


async def measure(server: ServerProcess, embedder, timed, n: int, k: int, reps: int, concurrency: int,
                  pool: list) -> dict:
    """Medians over `reps` fresh problems, after one warm-up episode."""
    from econ.game.episode import EpisodeRunner, GameSettings

    cfg = game_config(n)
    settings = dataclasses.replace(GameSettings.from_config(cfg), threshold=0.0)  # always play K rounds
    belief = belief_network(cfg, embedder.dim)
    forward = ForwardTimer(belief)
    client, backend = loopback_client(server, concurrency)
    runner = EpisodeRunner(client, embedder, belief, settings)
    rows = []
    try:
        for i in range(reps + 1):
            backend.spans.clear()
            timed.reset()
            forward.seconds = 0.0
            start = time.perf_counter()
            await runner.play(pool.pop(), "bench", k)
            wall = time.perf_counter() - start
            if i > 0:  # the first episode pays for connections and lazy initialisation
                rows.append((wall, critical_path(backend.spans), timed.seconds, timed.cpu_seconds, forward.seconds))
    finally:
        await client.aclose()
    walls, paths, embeds, embed_cpu, forwards = (median(column) for column in zip(*rows))
    ideal = server.latency_s * (1 + 2 * k)
    return {"wall": walls, "path": paths, "ideal": ideal, "ratio": median([r[0] / r[1] for r in rows]),
            "ratio_ideal": walls / ideal, "embed": embeds, "embed_cpu": embed_cpu, "forward": forwards}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per LLM call")
    parser.add_argument("--reps", type=int, default=3, help="measured episodes per (N, K)")
    parser.add_argument("--ns", type=int, nargs="+", default=[3, 8, 32])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--embedder", choices=EMBEDDERS, default="minilm")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as learner.torch_threads (default 1) does in a run
    settings = [(n, k, max(n, 4)) for n in args.ns for k in args.ks]
    settings += [(n, 1, 4) for n in args.ns if n > 4][-1:]  # the default llm.max_concurrency = 4
    pool = problems(len(settings) * (args.reps + 1))
    rows = []
    with (ServerProcess(args.latency) as server, ServerProcess(0.0) as embed_server,
          tempfile.TemporaryDirectory() as tmp):
        timed = timed_embedder(args.embedder, embed_server)
        embedder = cached(timed, Path(tmp))
        loop = asyncio.new_event_loop()
        for n, k, concurrency in settings:
            m = loop.run_until_complete(measure(server, embedder, timed, n, k, args.reps, concurrency, pool))
            rows.append((n, k, concurrency, m["wall"], m["path"], m["ideal"], m["ratio"], m["ratio_ideal"],
                         m["embed"], m["embed_cpu"], m["forward"] * 1000))
        loop.close()
    print_table(
        f"Episode wall / LLM critical path: {args.latency * 1000:.0f} ms per call, embedder {args.embedder}, "
        f"median of {args.reps} episodes ({machine_note()})",
        ["N", "K", "max_concurrency", "wall s", "critical path s (call records)", "latency x depth s",
         "wall / critical path", "wall / (latency x depth)", "encode wall s", "encode CPU s", "belief fwd ms"],
        rows,
    )


if __name__ == "__main__":
    main()
