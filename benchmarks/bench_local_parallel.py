"""One round of N executors on the embedded model: the serial path vs calls decoded together, side by side.

    python -m benchmarks.bench_local_parallel                      # N = 1, 3, 8; 128 new tokens; 3 problems
    python -m benchmarks.bench_local_parallel --sizes 3 --max-tokens 64
    python -m benchmarks.bench_local_parallel --threads 1                  # the parallel path on one thread
    python -m benchmarks.bench_local_parallel --model-path $(../shared/tools/qwen05-gguf | tail -1)  # another GGUF
    python -m benchmarks.bench_local_parallel --repack-weights            # weights repacked for llama.cpp's kernels

"serial" is the path every call took before: `model.n_parallel=1`, one `create_chat_completion` at a
time, 1 thread (conf/model/local.yaml before). "parallel" is the batched engine with `n_threads`
detected from the cores and `n_parallel` = the largest N, so a round's calls all decode together.
A round is N executor calls issued at once (asyncio.gather, as the episode issues them) on one SVAMP
problem's executor prompt, each with its own temperature, penalty and seed; its wall time is from the
first call to the last reply, aggregate tokens/s is the round's completion tokens over that wall time.
Every round is played twice per path ("identical": both repeats gave the same texts; "= alone": the
parallel round's texts are those its requests give one at a time, so how many calls decode together
changes no reply). Both backends are warmed up (model loaded, one call) before timing; the two paths
alternate round by round.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.common import machine_note, median, print_table, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument("--problems", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="parallel path's n_threads (default: detected)")
    parser.add_argument("--model-path", default=None, help="a GGUF file (default: the embedded SmolLM2)")
    parser.add_argument("--repack-weights", action="store_true", help="both paths with model.repack_weights=true")
    args = parser.parse_args()

    from econ.game import prompts
    from econ.llm.base import Sampling
    from econ.llm.local import LocalLlamaBackend

    load_start = machine_note()
    paths = {
        "serial (n_parallel=1, n_threads=1)": LocalLlamaBackend(
            args.model_path, n_parallel=1, n_threads=1, repack_weights=args.repack_weights
        ),
        "parallel": LocalLlamaBackend(
            args.model_path, n_threads=args.threads, n_parallel=max(args.sizes), repack_weights=args.repack_weights
        ),
    }
    loop = asyncio.new_event_loop()

    def samplings_of(n: int, salt: int) -> list[Sampling]:
        return [
            Sampling(0.3 + (0.4 * i) % 1.6, 0.9, (0.2 * i) % 1.0, args.max_tokens, 1000 * salt + i) for i in range(n)
        ]

    def round_of(backend, messages, n: int, salt: int):
        samplings = samplings_of(n, salt)

        async def together():
            return await asyncio.gather(*(backend.complete(messages, s) for s in samplings))

        start = time.perf_counter()
        replies = loop.run_until_complete(together())
        return time.perf_counter() - start, sum(r.completion_tokens for r in replies), [r.text for r in replies]

    warm = prompts.executor_messages("What is 2 + 3?", "Add.")
    for backend in paths.values():
        round_of(backend, warm, 1, 0)
    pool = problems(args.problems, "svamp")
    rows = []
    for n in args.sizes:
        stats = {name: {"wall": [], "rate": [], "same": 0} for name in paths}
        alone_same = 0
        for k, problem in enumerate(pool):
            messages = prompts.executor_messages(problem.question, "Work out the quantities, then combine them.")
            order = list(paths.items()) if k % 2 == 0 else list(paths.items())[::-1]
            for name, backend in order:
                first = round_of(backend, messages, n, k)
                second = round_of(backend, messages, n, k)
                for wall, tokens, _ in (first, second):
                    stats[name]["wall"].append(wall)
                    stats[name]["rate"].append(tokens / wall)
                stats[name]["same"] += first[2] == second[2]
                if backend is paths["parallel"]:
                    alone = [
                        loop.run_until_complete(backend.complete(messages, sampling)).text
                        for sampling in samplings_of(n, k)
                    ]
                    alone_same += alone == first[2]
        serial, parallel = (stats[name] for name in paths)
        rows.append(
            (
                n,
                median(serial["wall"]),
                median(parallel["wall"]),
                median(serial["wall"]) / median(parallel["wall"]),
                median(serial["rate"]),
                median(parallel["rate"]),
                median(parallel["rate"]) / median(serial["rate"]),
                f"{serial['same']}/{len(pool)}",
                f"{parallel['same']}/{len(pool)}",
                f"{alone_same}/{len(pool)}",
            )
        )
    loop.close()
    chosen = paths["parallel"]
    print_table(
        f"One round of N executor calls, {args.max_tokens} new tokens, {args.problems} SVAMP problems x 2 repeats; "
        f"parallel: n_parallel {chosen.n_parallel}, n_threads {chosen.n_threads}; "
        f"{'repacked' if args.repack_weights else 'stored'} weights; model {chosen.model}. "
        f"Start: {load_start}; end: {machine_note()}",
        [
            "N",
            "serial wall s",
            "parallel wall s",
            "wall ratio",
            "serial tok/s",
            "parallel tok/s",
            "throughput x",
            "serial identical",
            "parallel identical",
            "parallel = alone",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
