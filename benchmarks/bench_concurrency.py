"""Throughput of an evaluation with problems played concurrently (llm.problem_concurrency) vs one at a time.

    python -m benchmarks.bench_concurrency                      # 24 problems, N = 3, K = 1, 200 ms per call
    python -m benchmarks.bench_concurrency --embedder remote    # embeddings off this CPU

Each concurrency level evaluates the same problems in a fresh run dir through `econ.eval.loop.evaluate`
with llm.max_concurrency = problem_concurrency × N, so every call that may overlap does. Results must be
identical to the sequential run's (every call has its own seed): the table says whether they are.
A server with a smaller capacity (requests served at once) bounds the speed-up at
capacity / (latency × calls per problem) problems/s, over the sequential run's problems/s. This
process's CPU bounds it too: at most sequential wall time over sequential CPU time (the event
loop and the embedder share 2 cores with other jobs here).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import torch

from benchmarks.common import (
    EMBEDDERS,
    ServerProcess,
    cached,
    machine_note,
    print_table,
    problems,
    timed_embedder,
    timed_evaluation,
)


def fingerprint(results) -> list:
    """What must not depend on the order problems are played in."""
    return [
        (r.problem_id, r.final_answer, r.correct, [(rd.actions, rd.answers, rd.commitment) for rd in r.rounds])
        for r in results
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--problems", type=int, default=24)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--capacity", type=int, default=4, help="server capacity of the capacity-bound rows")
    parser.add_argument("--embedder", choices=EMBEDDERS, default="minilm")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pool = problems(args.problems)
    calls = 1 + args.k * (args.n + 1)  # per problem; with K > 1 the fixed-point stop may play fewer rounds
    rows = []
    with ServerProcess(0.0) as embed_server, tempfile.TemporaryDirectory() as tmp:
        timed = timed_embedder(args.embedder, embed_server)
        loop = asyncio.new_event_loop()
        for capacity in (256, args.capacity):
            with ServerProcess(args.latency, capacity=capacity) as server:
                baseline = None
                for level in args.levels:
                    # a fresh embedder cache per run: no run may profit from vectors another one computed
                    embedder = cached(timed, Path(tmp) / f"emb-{capacity}-{level}")
                    timed.reset()
                    wall, cpu, results = loop.run_until_complete(
                        timed_evaluation(
                            server,
                            embedder,
                            pool,
                            args.n,
                            args.k,
                            Path(tmp) / f"run-{capacity}-{level}",
                            concurrency=level,
                            max_concurrency=level * args.n,
                        )
                    )
                    baseline = baseline or (wall, fingerprint(results), cpu)
                    # a server serving `capacity` requests at a time completes capacity / latency of them per second
                    served = capacity / args.latency / calls * (baseline[0] / len(pool))
                    bound = min(level, served) if capacity < 256 else level
                    rows.append(
                        (
                            capacity,
                            level,
                            wall,
                            len(pool) / wall,
                            baseline[0] / wall,
                            bound,
                            baseline[0] / baseline[2],
                            cpu / len(pool),
                            timed.cpu_seconds / len(pool),
                            fingerprint(results) == baseline[1],
                        )
                    )
        loop.close()
    print_table(
        f"Throughput vs problem_concurrency: {len(pool)} problems, N = {args.n}, K = {args.k}, "
        f"{args.latency * 1000:.0f} ms per call, embedder {args.embedder} ({machine_note()})",
        [
            "server capacity",
            "problem_concurrency",
            "wall s",
            "problems/s",
            "speed-up",
            "ideal speed-up",
            "bound by 1 core of CPU",
            "CPU s / problem",
            "of which encode",
            "results identical",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
