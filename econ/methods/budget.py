"""Equal-budget matching: a baseline gets the LLM calls or completion tokens per problem that an ECON run spent."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from econ.errors import ConfigError
from econ.run.inputs import read_json_object

KINDS = ("calls", "completion_tokens")


@dataclass(frozen=True)
class Budget:
    """What one problem may cost: `target` calls or completion tokens, the mean of `method` in `source`."""

    kind: str  # "calls" | "completion_tokens"
    target: float  # per problem
    source: str  # the results.json it was read from
    method: str  # the method of that run whose spend is matched

    def describe(self) -> dict:
        return {"kind": self.kind, "target_per_problem": self.target, "source": self.source, "method": self.method}


def nearest_whole(value: float) -> int:
    """The nearest whole number ≥ 1, halves rounded up (Python's round() would send 12.5 to 12)."""
    return max(1, math.floor(value + 0.5))


def load_budget(kind: str | None, source: str | None, method: str) -> Budget | None:
    """The budget to match, read from a results.json; None when `kind` is null (the method's own settings)."""
    if kind is None:
        return None
    if kind not in KINDS:
        raise ConfigError(f"method.budget={kind}: use null, {' or '.join(KINDS)}")
    if not source:
        raise ConfigError(
            "method.budget_source: give the results.json of the ECON run to match, "
            "e.g. method.budget_source=outputs/evaluate/<run>/results.json"
        )
    path = Path(source)
    fix = "give the results.json of the ECON run to match"
    summaries = read_json_object(path, "method.budget_source", fix).get("methods")
    if not isinstance(summaries, dict):
        raise ConfigError(f"method.budget_source={source}: not a results.json (no 'methods'); {fix}")
    if method not in summaries:
        raise ConfigError(f"method.budget_method={method}: {source} holds {sorted(summaries)}; pick one of them")
    summary = summaries[method]
    field = "llm_calls_per_problem" if kind == "calls" else "completion_tokens"
    if not isinstance(summary, dict) or not all(_is_number(summary.get(k)) for k in ("n", field)):
        raise ConfigError(
            f"method.budget_source={source}: its {method} entry has no numbers 'n' and {field!r} "
            f"(another econ version?); {fix}"
        )
    if not summary["n"]:
        raise ConfigError(f"method.budget_source={source}: {method} was run on no problems")
    # Read, never recomputed: the same numbers the ECON run reported.
    target = summary[field] if kind == "calls" else summary[field] / summary["n"]
    if target <= 0:
        raise ConfigError(f"method.budget_source={source}: {method} spent no {kind}; nothing to match")
    return Budget(kind, float(target), str(path), method)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
