"""Aggregate episode results into the numbers a run reports, and print them as a table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from econ.game.episode import FIXED_POINT, MAX_ROUNDS
from econ.game.records import EpisodeResult


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (sane at 0 and n, unlike the normal one)."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def best_response_gap(results: Sequence[EpisodeResult]) -> float | None:
    """Mean over problems of the final round's max_i ε_i; None when no round recorded one (no critic)."""
    gaps = [max(r.rounds[-1].best_response_gap) for r in results if r.rounds and r.rounds[-1].best_response_gap]
    return sum(gaps) / len(gaps) if gaps else None


def stop_reasons(results: Sequence[EpisodeResult]) -> dict[str, int] | None:
    """How many problems' rounds stopped at a fixed point, and how many at the round limit; None for baselines."""
    reasons = [r.stop_reason for r in results if r.stop_reason is not None]
    if not reasons:
        return None
    return {reason: reasons.count(reason) for reason in (FIXED_POINT, MAX_ROUNDS)}


def summarize(results: Sequence[EpisodeResult]) -> dict[str, Any]:
    """The per-method numbers of results.json."""
    n = len(results)
    correct = sum(r.correct for r in results)
    commitments = [record for r in results for record in r.rounds]
    answers = [a for record in commitments for a in record.answers]
    low, high = wilson_interval(correct, n)
    prompt = sum(r.prompt_tokens for r in results)
    completion = sum(r.completion_tokens for r in results)
    calls = sum(r.llm_calls for r in results)
    per = max(n, 1)
    return {
        "n": n,
        "accuracy": correct / per,
        "accuracy_ci95": [low, high],
        "parse_rate": sum(a is not None for a in answers) / max(len(answers), 1),
        "commitment_json_rate": sum(c.commitment_json_ok for c in commitments) / max(len(commitments), 1),
        "commitment_fallback_rate": sum(c.commitment_fallback for c in commitments) / max(len(commitments), 1),
        "strategy_leak_rate": sum(r.strategy_leak for r in results) / per,
        "mean_rounds": sum(r.rounds_used for r in results) / per,
        "converged_rate": sum(r.converged for r in results) / per,
        "stop_reasons": stop_reasons(results),
        "best_response_gap": best_response_gap(results),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "tokens_per_problem": (prompt + completion) / per,
        "llm_calls": calls,
        "llm_calls_per_problem": calls / per,
        "cache_hits": sum(r.cache_hits for r in results),
        "wall_s": sum(r.wall_s for r in results),
    }


def print_table(summaries: dict[str, dict[str, Any]], title: str, console: Console | None = None) -> None:
    """One row per method: accuracy with CI, parse and JSON rates, rounds, tokens, calls, time."""
    table = Table(title=title)
    for column in ("method", "n", "accuracy (95% CI)", "parse", "JSON", "rounds", "converged", "BR gap",
                   "tokens/problem", "calls", "cache hits", "wall s"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for method, s in summaries.items():
        low, high = s["accuracy_ci95"]
        table.add_row(
            method, str(s["n"]), f"{s['accuracy']:.1%} [{low:.1%}, {high:.1%}]", f"{s['parse_rate']:.0%}",
            f"{s['commitment_json_rate']:.0%}", f"{s['mean_rounds']:.2f}", f"{s['converged_rate']:.0%}",
            "-" if s.get("best_response_gap") is None else f"{s['best_response_gap']:.3f}",
            f"{s['tokens_per_problem']:.0f}", str(s["llm_calls"]), str(s["cache_hits"]), f"{s['wall_s']:.1f}",
        )
    if console is None:
        console = Console()
        console.width = max(console.width, 150)  # a pipe or CI log is not a reason to wrap the table
    console.print(table)
