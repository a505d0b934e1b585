"""Aggregate episode results into the numbers a run reports, and print them as a table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from econ.data.answers import parse_rate
from econ.errors import ConfigError
from econ.eval.stats import paired_difference, wilson_interval
from econ.game.episode import FIXED_POINT, MAX_ROUNDS
from econ.game.records import EpisodeResult

REFERENCE = "econ"  # the method every other one is compared with, problem by problem
# The numbers of a method's summary that `optimized_metric=<method>/<metric>` can name.
METRICS = (
    "accuracy",
    "parse_rate",
    "commitment_json_rate",
    "commitment_fallback_rate",
    "strategy_leak_rate",
    "mean_rounds",
    "converged_rate",
    "best_response_gap",
    "prompt_tokens",
    "completion_tokens",
    "tokens_per_problem",
    "llm_calls",
    "llm_calls_per_problem",
    "cache_hits",
    "wall_s",
)


def sampling_used(results: Sequence[EpisodeResult]) -> dict[str, dict[str, float]] | None:
    """Mean and range of the executors' T and p over every executor and round (RoundRecord.actions); None if none.

    ECON records the action its belief network chose for each executor in each round; baselines record
    their one fixed action there, so their range is a single value.
    """
    actions = [action for r in results for record in r.rounds for action in record.actions]
    if not actions:
        return None
    out = {}
    for name, column in (("temperature", 0), ("penalty", 1)):
        values = [float(action[column]) for action in actions]
        out[name] = {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}
    return out


def sampling_text(sampling: Mapping[str, Mapping[str, float]] | None) -> str:
    """A table cell: `T 0.70, p 0.10` for one fixed action, else mean [range]: `T 1.05 [0.10, 2.00], p 0.50 ...`."""
    if not sampling:
        return "-"
    parts = []
    for label, name in (("T", "temperature"), ("p", "penalty")):
        s = sampling[name]
        fixed = abs(s["max"] - s["min"]) < 5e-3  # equal at the two decimals shown
        parts.append(f"{label} {s['mean']:.2f}" + ("" if fixed else f" [{s['min']:.2f}, {s['max']:.2f}]"))
    return ", ".join(parts)


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
    costs = [r.cost_usd for r in results if r.cost_usd is not None]
    per = max(n, 1)
    return {
        "n": n,
        "accuracy": correct / per,
        "accuracy_ci95": [low, high],
        "sampling": sampling_used(results),
        "parse_rate": parse_rate(answers),
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
        # USD of the tokens spent, at each model's price; cache hits cost nothing; None when no model is priced
        "cost_usd": sum(costs) if costs else None,
        "cost_usd_per_problem": sum(costs) / per if costs else None,
    }


def check_metric(key: str, methods: list[str]) -> tuple[str, str]:
    """(method, metric) of an `optimized_metric` value such as `econ/accuracy`, refused in one line when unknown."""
    method, _, metric = str(key).partition("/")
    if not methods:
        raise ConfigError(f"optimized_metric={key}: eval_methods is empty; set optimized_metric=null to train only")
    if method not in methods or metric not in METRICS:
        raise ConfigError(
            f"optimized_metric={key}: use <method>/<metric> with a method of eval_methods "
            f"({', '.join(methods)}) and one of {', '.join(METRICS)}, e.g. econ/accuracy"
        )
    return method, metric


def correct_by_problem(results: Sequence[EpisodeResult]) -> dict[str, bool]:
    return {r.problem_id: bool(r.correct) for r in results}


def paired_with_reference(
    by_method: Mapping[str, Sequence[EpisodeResult]], reference: str = REFERENCE
) -> dict[str, dict[str, Any]]:
    """For each method but `reference`: its paired accuracy difference with `reference` on the same problems.

    {} when the reference was not evaluated. Each value is `PairedDifference.to_json()` plus the
    reference's name, ready for the method's entry in results.json (key "vs_econ").
    """
    if reference not in by_method:
        return {}
    base = correct_by_problem(by_method[reference])
    return {
        method: {"reference": reference, **paired_difference(correct_by_problem(results), base).to_json()}
        for method, results in by_method.items()
        if method != reference
    }


def paired_text(paired: Mapping[str, Any] | None) -> str:
    """A table cell for a `vs_econ` entry, in accuracy points: `-5.0 pp [-35.0, +25.0], p=1`; `-` when there is none."""
    if not paired:
        return "-"
    low, high = paired["ci95"]
    return f"{100 * paired['difference']:+.1f} pp [{100 * low:+.1f}, {100 * high:+.1f}], p={paired['mcnemar_p']:.2g}"


def print_table(summaries: dict[str, dict[str, Any]], title: str, console: Console | None = None) -> None:
    """One row per method: accuracy with CI, sampling, parse and JSON rates, rounds, tokens, calls, time.

    When methods were compared with econ on the same problems, a column gives the paired difference
    (95% bootstrap interval, exact McNemar p).
    """
    paired = any(s.get("vs_econ") for s in summaries.values())
    priced = any(s.get("cost_usd") is not None for s in summaries.values())
    table = Table(title=title)
    columns = [
        "method",
        "n",
        "accuracy (95% CI)",
        *(["vs econ (paired)"] if paired else []),
        "sampling T, p",
        "parse",
        "JSON",
        "rounds",
        "converged",
        "BR gap",
        "tokens/problem",
        "calls",
        "cache hits",
        *(["cost $"] if priced else []),
        "wall s",
    ]
    for column in columns:
        table.add_column(
            column,
            justify="left" if column in ("method", "sampling T, p") else "right",
            no_wrap=column in ("sampling T, p", "vs econ (paired)"),
        )
    for method, s in summaries.items():
        low, high = s["accuracy_ci95"]
        table.add_row(
            method,
            str(s["n"]),
            f"{s['accuracy']:.1%} [{low:.1%}, {high:.1%}]",
            *([paired_text(s.get("vs_econ"))] if paired else []),
            sampling_text(s.get("sampling")),
            f"{s['parse_rate']:.0%}",
            f"{s['commitment_json_rate']:.0%}",
            f"{s['mean_rounds']:.2f}",
            f"{s['converged_rate']:.0%}",
            "-" if s.get("best_response_gap") is None else f"{s['best_response_gap']:.3f}",
            f"{s['tokens_per_problem']:.0f}",
            str(s["llm_calls"]),
            str(s["cache_hits"]),
            *([cost_text(s.get("cost_usd"))] if priced else []),
            f"{s['wall_s']:.1f}",
        )
    if console is None:
        console = Console()
        console.width = max(console.width, 230)  # a pipe or CI log is not a reason to wrap the table
    console.print(table)


def cost_text(cost: float | None) -> str:
    """A table cell for a cost in USD: `$0.001234`; `-` when no model was priced."""
    return "-" if cost is None else f"${cost:.6f}"


def print_usage_by_model(usage: Mapping[str, Any], console: Console | None = None) -> None:
    """One row per model and role: calls, cache hits, tokens spent, tokens served by the cache, price, cost.

    Printed when the team has more than one model or any model is priced (a default run's table stays as it was).
    """
    by_model = usage.get("by_model") or {}
    if len(by_model) < 2 and all(entry.get("cost_usd") is None for entry in by_model.values()):
        return
    table = Table(title="usage by model (cached tokens were served by the cache: they cost nothing)")
    for column in (
        "model",
        "role",
        "calls",
        "cache hits",
        "prompt tokens",
        "completion tokens",
        "cached tokens",
        "$/Mtok in, out",
        "cost $",
    ):
        table.add_column(column, justify="left" if column in ("model", "role") else "right")
    for model, entry in by_model.items():
        price_in, price_out = entry.get("price_per_mtok_in"), entry.get("price_per_mtok_out")
        price = "-" if price_in is None and price_out is None else f"{price_in or 0:g}, {price_out or 0:g}"
        for role, totals in [("all", entry), *entry.get("by_role", {}).items()]:
            table.add_row(
                model if role == "all" else "",
                role,
                str(totals["calls"]),
                str(totals["cache_hits"]),
                str(totals["prompt_tokens"]),
                str(totals["completion_tokens"]),
                str(totals["cached_prompt_tokens"] + totals["cached_completion_tokens"]),
                price if role == "all" else "",
                cost_text(entry.get("cost_usd")) if role == "all" else "",
            )
    table.add_row("run", "", "", "", "", "", "", "", cost_text(usage.get("cost_usd")))
    if console is None:
        console = Console()
        console.width = max(console.width, 160)
    console.print(table)
