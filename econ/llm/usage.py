"""Token and call accounting per role, per problem and per run."""

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


class UsageTracker:
    """Thread-safe accumulator of `UsageTotals` keyed by (role, problem id); roles are free strings."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cells: dict[tuple[str, str], UsageTotals] = {}

    def _cell(self, role: str, problem_id: str) -> UsageTotals:
        return self._cells.setdefault((role, str(problem_id)), UsageTotals())

    def record_call(
        self, role: str, problem_id: str, prompt_tokens: int, completion_tokens: int, latency_s: float
    ) -> None:
        with self._lock:
            cell = self._cell(role, problem_id)
            cell.calls += 1
            cell.prompt_tokens += prompt_tokens
            cell.completion_tokens += completion_tokens
            cell.latency_s += latency_s

    def record_cache_hit(self, role: str, problem_id: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            cell = self._cell(role, problem_id)
            cell.cache_hits += 1
            cell.cached_prompt_tokens += prompt_tokens
            cell.cached_completion_tokens += completion_tokens

    def record_fault(self, role: str, problem_id: str, kind: str, retried: bool) -> None:
        with self._lock:
            cell = self._cell(role, problem_id)
            cell.faults[kind] += 1
            cell.retries += int(retried)

    def record_failure(self, role: str, problem_id: str) -> None:
        with self._lock:
            self._cell(role, problem_id).failures += 1

    def _sum(self, keep) -> UsageTotals:
        total = UsageTotals()
        with self._lock:
            for (role, pid), cell in self._cells.items():
                if keep(role, pid):
                    total.add(cell)
        return total

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
        """Plain, JSON-serialisable dicts: {"total": ..., "by_role": {role: ...}, "by_problem": {id: ...}}."""
        total, by_role, by_problem = UsageTotals(), {}, {}
        with self._lock:
            for (role, pid), cell in self._cells.items():
                total.add(cell)
                by_role.setdefault(role, UsageTotals()).add(cell)
                if per_problem:
                    by_problem.setdefault(pid, UsageTotals()).add(cell)
        out = {"total": total.as_dict(), "by_role": {r: t.as_dict() for r, t in sorted(by_role.items())}}
        if per_problem:
            out["by_problem"] = {p: t.as_dict() for p, t in sorted(by_problem.items())}
        return out

    def reset(self) -> None:
        with self._lock:
            self._cells.clear()
