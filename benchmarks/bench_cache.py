"""An identical re-run served by the response cache: LLM calls made and speed-up over the first run.

    python -m benchmarks.bench_cache                      # 16 problems, N = 3, K = 3 (econ), 200 ms per call
    python -m benchmarks.bench_cache --embedder remote

The first run fills the sqlite caches (LLM replies and embeddings). The re-run is what a new process
with the same command and cache does in a fresh run dir (a resumed run dir would skip finished problems
altogether): new client, new embedder (empty memory LRU, same sqlite file), same seeds. It must send no
request to the server, give identical results, and be at least 50x faster.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import torch

from benchmarks.bench_concurrency import fingerprint
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--problems", type=int, default=16)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--embedder", choices=EMBEDDERS, default="minilm")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pool = problems(args.problems)
    rows = []
    with (
        ServerProcess(args.latency) as server,
        ServerProcess(0.0) as embed_server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        timed = timed_embedder(args.embedder, embed_server)
        cache = Path(tmp) / "llm.sqlite"
        loop = asyncio.new_event_loop()
        first = None
        for name in ("first run", "identical re-run"):
            before = server.chat_requests()
            wall, cpu, results = loop.run_until_complete(
                timed_evaluation(
                    server,
                    cached(timed, Path(tmp)),
                    pool,
                    args.n,
                    args.k,
                    Path(tmp) / name,
                    concurrency=1,
                    max_concurrency=max(args.n, 4),
                    cache_path=cache,
                )
            )
            calls = server.chat_requests() - before
            first = first or (wall, fingerprint(results))
            hits = sum(r.cache_hits for r in results)
            rows.append(
                (
                    name,
                    wall,
                    wall / len(pool),
                    cpu / len(pool),
                    calls,
                    hits,
                    first[0] / wall,
                    fingerprint(results) == first[1],
                )
            )
        loop.close()
    print_table(
        f"Identical re-run from the cache: {len(pool)} problems, N = {args.n}, K = {args.k}, "
        f"{args.latency * 1000:.0f} ms per call, embedder {args.embedder} ({machine_note()})",
        [
            "run",
            "wall s",
            "wall s / problem",
            "CPU s / problem",
            "LLM calls sent",
            "cache hits",
            "speed-up",
            "results identical",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
