"""Resident memory during a 1000-problem evaluation: it must not grow with the number of problems.

    python -m benchmarks.bench_memory                        # 1000 GSM8K problems, N = 3, K = 3, remote embedder
    python -m benchmarks.bench_memory --embedder minilm      # with MiniLM on CPU (slow: ~1 s per problem here)

`econ.eval.loop.evaluate` plays the problems against a zero-latency loopback server (in its own
process, so its request log is not ours) with the response cache on, writing traces.jsonl and the
results log as a run does. RSS is sampled after every problem; the table shows it at a few points, the
growth per 1000 problems over the second half (a straight-line fit) and the peak (ru_maxrss).
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
    peak_rss_mb,
    print_table,
    problems,
    rss_mb,
    timed_embedder,
    timed_evaluation,
)


async def evaluate_sampling_rss(server, embedder, pool, n: int, k: int, concurrency: int, tmp: Path) -> list[float]:
    """RSS in MB after each problem of one evaluation."""
    samples: list[float] = []

    def sample(backend) -> None:
        backend.spans.clear()  # the timing wrapper's record is ours, not econ's
        samples.append(rss_mb())

    await timed_evaluation(
        server,
        embedder,
        pool,
        n,
        k,
        tmp / "run",
        concurrency=concurrency,
        max_concurrency=concurrency * n,
        cache_path=tmp / "llm.sqlite",
        after_problem=sample,
    )
    return samples


def slope_per_1000(samples: list[float]) -> float:
    """Least-squares MB per 1000 problems over the second half of the run (after warm-up)."""
    half = samples[len(samples) // 2 :]
    xs = range(len(samples) // 2, len(samples))
    mean_x, mean_y = sum(xs) / len(half), sum(half) / len(half)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, half))
    var = sum((x - mean_x) ** 2 for x in xs)
    return 1000 * cov / var if var else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=1000)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="llm.problem_concurrency")
    parser.add_argument("--embedder", choices=EMBEDDERS, default="remote")
    parser.add_argument("--memory-items", type=int, default=50_000, help="embedder.memory_items (its LRU)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pool = problems(args.problems)
    with ServerProcess(0.0) as server, ServerProcess(0.0) as embed_server, tempfile.TemporaryDirectory() as tmp:
        embedder = cached(timed_embedder(args.embedder, embed_server), Path(tmp), args.memory_items)
        start_mb = rss_mb()
        loop = asyncio.new_event_loop()
        samples = loop.run_until_complete(
            evaluate_sampling_rss(server, embedder, pool, args.n, args.k, args.concurrency, Path(tmp))
        )
        loop.close()
        traces_mb = (Path(tmp) / "run" / "traces.jsonl").stat().st_size / 1e6
    points = sorted({p for p in (10, 100, 250, 500, 750, len(samples)) if p <= len(samples)})
    rows = [(p, samples[p - 1], samples[p - 1] - samples[points[0] - 1]) for p in points]
    print_table(
        f"RSS during a {len(samples)}-problem evaluation: N = {args.n}, K = {args.k}, problem_concurrency "
        f"{args.concurrency}, 0 ms per call, embedder {args.embedder} (memory_items {args.memory_items}); before: {start_mb:.0f} MB, peak "
        f"{peak_rss_mb():.0f} MB, growth over the second half {slope_per_1000(samples):.1f} MB per 1000 problems, "
        f"traces.jsonl {traces_mb:.1f} MB on disk ({machine_note()})",
        ["problems done", "RSS MB", f"vs after {points[0]}"],
        rows,
    )


if __name__ == "__main__":
    main()
