"""Token and call accounting per role, per model, per problem and per run, and the cost of the tokens spent."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class UsageTotals:
    """What a set of `LLMClient.complete` calls cost.

    calls: completions obtained from the backend (cache misses that succeeded).
    cache_hits: completions served from the cache; their tokens go to
        cached_prompt_tokens / cached_completion_tokens, NOT to prompt_tokens /
        completion_tokens, which count only tokens spent in this run.
    retries: failed attempts that were retried; faults: failed attempts by kind
        ("429", "5xx", "timeout", "connection", "malformed", "empty").
        Requests sent to the backend = calls + sum(faults.values()).
    failures: calls that gave up (retry budget exhausted or a final error).
    latency_s: summed backend latency of successful calls.
    """

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    retries: int = 0
    failures: int = 0
    latency_s: float = 0.0
    faults: Counter = field(default_factory=Counter)

    def add(self, other: UsageTotals) -> None:
        for f in dataclasses.fields(self):
            if f.name == "faults":
                self.faults.update(other.faults)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["faults"] = dict(sorted(self.faults.items()))
        out["total_tokens"] = self.prompt_tokens + self.completion_tokens
        return out


@dataclass(frozen=True)
class Price:
    """USD per million prompt (input) and completion (output) tokens; None = not priced (e.g. a local model)."""

    per_mtok_in: float | None = None
    per_mtok_out: float | None = None

    @property
    def known(self) -> bool:
        return self.per_mtok_in is not None or self.per_mtok_out is not None

    def cost(self, totals: UsageTotals) -> float | None:
        """cost = (prompt_tokens·in + completion_tokens·out) / 10^6 over the tokens spent; cached tokens cost nothing."""
        if not self.known:
            return None
        return (
            totals.prompt_tokens * (self.per_mtok_in or 0.0) + totals.completion_tokens * (self.per_mtok_out or 0.0)
        ) / 1e6


def total_cost(costs) -> float | None:
    """The sum of the costs that are known; None when none is (no priced model took part)."""
    known = [cost for cost in costs if cost is not None]
    return sum(known) if known else None


class UsageTracker:
    """Thread-safe accumulator of `UsageTotals` keyed by (role, problem id, model); roles are free strings.

    `model` is the label of the model that served the call (`LLMClient.model_label`; "" when a caller
    does not say). `set_price` gives a model's price, from which `cost_usd` is computed wherever
    totals are reported: a model without a price adds nothing, and a total is None when no model had one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cells: dict[tuple[str, str, str], UsageTotals] = {}
        self.prices: dict[str, Price] = {}

    def set_price(self, model: str, per_mtok_in: float | None, per_mtok_out: float | None) -> None:
        self.prices[model] = Price(per_mtok_in, per_mtok_out)

    def _cell(self, role: str, problem_id: str, model: str) -> UsageTotals:
        return self._cells.setdefault((role, str(problem_id), model), UsageTotals())

    def record_call(
        self,
        role: str,
        problem_id: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency_s: float,
        model: str = "",
    ) -> None:
        with self._lock:
            cell = self._cell(role, problem_id, model)
            cell.calls += 1
            cell.prompt_tokens += prompt_tokens
            cell.completion_tokens += completion_tokens
            cell.latency_s += latency_s

    def record_cache_hit(
        self, role: str, problem_id: str, prompt_tokens: int, completion_tokens: int, model: str = ""
    ) -> None:
        with self._lock:
            cell = self._cell(role, problem_id, model)
            cell.cache_hits += 1
            cell.cached_prompt_tokens += prompt_tokens
            cell.cached_completion_tokens += completion_tokens

    def record_fault(self, role: str, problem_id: str, kind: str, retried: bool, model: str = "") -> None:
        with self._lock:
            cell = self._cell(role, problem_id, model)
            cell.faults[kind] += 1
            cell.retries += int(retried)

    def record_failure(self, role: str, problem_id: str, model: str = "") -> None:
        with self._lock:
            self._cell(role, problem_id, model).failures += 1

    def _sum(self, keep) -> UsageTotals:
        total = UsageTotals()
        with self._lock:
            for (role, pid, _), cell in self._cells.items():
                if keep(role, pid):
                    total.add(cell)
        return total

    def _cost(self, keep) -> float | None:
        by_model: dict[str, UsageTotals] = {}
        with self._lock:
            for (role, pid, model), cell in self._cells.items():
                if keep(role, pid):
                    by_model.setdefault(model, UsageTotals()).add(cell)
        return total_cost(self.prices.get(model, Price()).cost(totals) for model, totals in by_model.items())

    def problem_cost(self, problem_id: str) -> float | None:
        """USD spent on one problem (its cache misses, at each model's price); None when no model has a price."""
        pid = str(problem_id)
        return self._cost(lambda r, p: p == pid)

    def total(self) -> dict:
        """Run totals."""
        return self._sum(lambda role, pid: True).as_dict()

    def problem(self, problem_id: str, role: str | None = None) -> dict:
        """One problem's totals, over all roles or for one role."""
        pid = str(problem_id)
        return self._sum(lambda r, p: p == pid and (role is None or r == role)).as_dict()

    def role(self, role: str) -> dict:
        """One role's totals over all problems."""
        return self._sum(lambda r, p: r == role).as_dict()

    def snapshot(self, per_problem: bool = True) -> dict:
        """Plain, JSON-serialisable dicts: {"total", "by_role": {role: ...}, "by_model": {model: ...},
        "cost_usd", "by_problem": {id: ...}}.

        Each `by_model` entry holds that model's totals, its `by_role` totals, its prices and `cost_usd`
        (None without a price); `cost_usd` is the run's, over every priced model.
        """
        total, by_role, by_problem = UsageTotals(), {}, {}
        by_model: dict[str, tuple[UsageTotals, dict[str, UsageTotals]]] = {}
        with self._lock:
            for (role, pid, model), cell in self._cells.items():
                total.add(cell)
                by_role.setdefault(role, UsageTotals()).add(cell)
                model_total, model_roles = by_model.setdefault(model, (UsageTotals(), {}))
                model_total.add(cell)
                model_roles.setdefault(role, UsageTotals()).add(cell)
                if per_problem:
                    by_problem.setdefault(pid, UsageTotals()).add(cell)
        models = {}
        for model, (model_total, model_roles) in sorted(by_model.items()):
            price = self.prices.get(model, Price())
            models[model] = {
                **model_total.as_dict(),
                "by_role": {r: t.as_dict() for r, t in sorted(model_roles.items())},
                "price_per_mtok_in": price.per_mtok_in,
                "price_per_mtok_out": price.per_mtok_out,
                "cost_usd": price.cost(model_total),
            }
        out = {
            "total": total.as_dict(),
            "by_role": {r: t.as_dict() for r, t in sorted(by_role.items())},
            "by_model": models,
            "cost_usd": total_cost(entry["cost_usd"] for entry in models.values()),
        }
        if per_problem:
            out["by_problem"] = {p: t.as_dict() for p, t in sorted(by_problem.items())}
        return out

    def reset(self) -> None:
        with self._lock:
            self._cells.clear()
