"""Tokens/s of econ's local backend (through LLMClient) vs llama-cpp-python called directly, same settings.

    python -m benchmarks.bench_local_llm          # 11 interleaved pairs, 64 new tokens each

Both sides load the embedded GGUF with the settings of conf/model/local.yaml (n_ctx, n_threads), each
in its own `Llama` object so neither reuses the other's prompt cache, and generate from the same
prompt with the same seed, temperature, top_p and repeat penalty (p = 0 → 1.0). Each pair uses a new
problem and alternates which side goes first; tokens/s is completion tokens over the wall time the
caller waits. The machine is shared, so the medians and the median per-pair ratio are what count;
tokens per CPU-second (this process, all threads) is shown too, as it depends less on other jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.common import game_config, machine_note, median, print_table, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    from llama_cpp import Llama

    from econ.game import prompts
    from econ.llm.base import Sampling, multiplicative_penalty
    from econ.llm.client import build_llm_client

    cfg = game_config(3)  # conf/evaluate.yaml: model=local
    client = build_llm_client(cfg.model, {"cache": False, "max_concurrency": 1})
    backend = client.backend
    direct = Llama(model_path=backend.path, n_ctx=backend.n_ctx, n_threads=backend.n_threads, verbose=False)
    loop = asyncio.new_event_loop()

    def ours(messages, sampling):
        start, cpu = time.perf_counter(), time.process_time()
        reply = loop.run_until_complete(client.complete(messages, sampling, role="bench", problem_id="bench"))
        return reply.text, reply.completion_tokens, time.perf_counter() - start, time.process_time() - cpu

    def theirs(messages, sampling):
        start, cpu = time.perf_counter(), time.process_time()
        out = direct.create_chat_completion(
            messages=messages,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed,
            repeat_penalty=multiplicative_penalty(sampling.repetition_penalty, backend.max_repeat_penalty),
        )
        text, tokens = out["choices"][0]["message"]["content"], out["usage"]["completion_tokens"]
        return text, tokens, time.perf_counter() - start, time.process_time() - cpu

    sampling = Sampling(temperature=0.2, top_p=0.9, repetition_penalty=0.0, max_tokens=args.max_tokens, seed=1234)
    ours(prompts.solver_messages("What is 2 + 3?"), sampling)  # load both models before timing
    theirs(prompts.solver_messages("What is 2 + 3?"), sampling)
    rates = {"econ LocalLlamaBackend via LLMClient": [], "llama-cpp-python direct": []}
    cpu_rates = {name: [] for name in rates}
    ratios, same = [], 0
    for i, problem in enumerate(problems(args.pairs, "svamp")):
        messages = prompts.solver_messages(problem.question)
        order = [("econ LocalLlamaBackend via LLMClient", ours), ("llama-cpp-python direct", theirs)]
        outputs = {name: fn(messages, sampling) for name, fn in (order if i % 2 == 0 else order[::-1])}
        for name, (_, tokens, seconds, cpu_seconds) in outputs.items():
            rates[name].append(tokens / seconds)
            cpu_rates[name].append(tokens / cpu_seconds)
        ratios.append(rates["econ LocalLlamaBackend via LLMClient"][-1] / rates["llama-cpp-python direct"][-1])
        same += outputs["econ LocalLlamaBackend via LLMClient"][:2] == outputs["llama-cpp-python direct"][:2]
    loop.close()
    direct_rate = median(rates["llama-cpp-python direct"])
    direct_cpu_rate = median(cpu_rates["llama-cpp-python direct"])
    rows = [
        (
            name,
            median(values),
            min(values),
            max(values),
            median(values) / direct_rate - 1,
            median(cpu_rates[name]),
            median(cpu_rates[name]) / direct_cpu_rate - 1,
        )
        for name, values in rates.items()
    ]
    print_table(
        f"Embedded model tokens/s, {args.pairs} interleaved pairs, max_tokens {args.max_tokens}, "
        f"n_threads {backend.n_threads}; median per-pair ratio econ/direct {median(ratios):.3f}; "
        f"identical text and token count in {same}/{args.pairs} pairs ({machine_note()})",
        ["caller", "median tok/s", "min tok/s", "max tok/s", "vs direct", "tok per CPU-s", "vs direct (CPU)"],
        rows,
    )


if __name__ == "__main__":
    main()
