"""Evaluate one method on a list of problems, resumable problem by problem."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from econ.data.datasets import Problem
from econ.game.records import EpisodeResult
from econ.run.jsonl import JsonlLog, read_jsonl

log = logging.getLogger(__name__)

PlayFn = Callable[[Problem], Awaitable[EpisodeResult]]


async def evaluate(
    problems: Sequence[Problem],
    play: PlayFn,
    method: str,
    run_dir: Path,
    traces: JsonlLog,
    concurrency: int = 1,
    policy: str = "",
) -> list[EpisodeResult]:
    """Play every problem not already in results_<method>.jsonl; return all results in problem order.

    Returned results carry no `calls`: those stream to `traces` as each problem ends, so memory
    does not grow with the prompts and replies of a long evaluation.

    Each finished problem is logged (trace and result, flushed, then fsynced) as soon as it ends,
    so a killed run resumes where it stopped and never pays for a problem twice. The fsyncs
    run in a worker thread, shared by problems that end together: the disk never stalls the
    LLM calls of other problems. Records are reused only when made by the same policy (a
    fingerprint of the networks that chose the actions).
    """
    results_log_path = run_dir / f"results_{method}.jsonl"
    wanted = {p.id for p in problems}
    done = {
        record["problem_id"]: EpisodeResult.from_json(record)
        for record in read_jsonl(results_log_path)
        if record.get("problem_id") in wanted and record.get("policy", "") == policy
    }
    todo = [p for p in problems if p.id not in done]
    if done:
        log.info("%s: resuming, %d of %d problems already done", method, len(done), len(problems))
    results_log = JsonlLog(results_log_path)
    gate = asyncio.Semaphore(concurrency)
    correct = sum(r.correct for r in done.values())
    tokens = sum(r.prompt_tokens + r.completion_tokens for r in done.values())

    with Progress(
        TextColumn(f"[bold]{method}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("acc {task.fields[acc]}  tokens {task.fields[tokens]}"),
        TimeElapsedColumn(),
        transient=False,
    ) as progress:
        task = progress.add_task(
            method, total=len(problems), completed=len(done), acc=_accuracy(correct, len(done)), tokens=tokens
        )

        async def run_one(problem: Problem) -> None:
            nonlocal correct, tokens
            async with gate:
                result = await play(problem)
            traces.write({"kind": "eval", **result.to_json(with_calls=True)})  # both at once: never half-logged
            results_log.write({**result.to_json(with_calls=False), "policy": policy})
            await traces.sync()
            await results_log.sync()
            done[problem.id] = dataclasses.replace(result, calls=[])
            correct += result.correct
            tokens += result.prompt_tokens + result.completion_tokens
            progress.update(task, advance=1, acc=_accuracy(correct, len(done)), tokens=tokens)

        runs = [asyncio.ensure_future(run_one(p)) for p in todo]
        try:
            await asyncio.gather(*runs)
        finally:
            for run in runs:  # after a failure, stop the problems still playing or waiting: none is half-logged
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
            results_log.close()
    return [done[p.id] for p in problems]


def _accuracy(correct: int, n: int) -> str:
    return f"{correct / n:.1%}" if n else "-"
