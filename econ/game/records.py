"""Plain records of what happened in an episode, written to traces.jsonl."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from econ.data.answers import parse_rate


@dataclass
class Call:
    """One LLM call as sent and received."""

    role: str  # "strategy" | "executor" | "commitment"; hierarchical: also "local_commitment" | "merge_commitment"
    round: int
    agent: int | None
    messages: list[dict[str, str]]
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    group: int | None = None  # hierarchical: the executor group, or the merging node at its tree level
    level: int | None = None  # hierarchical commitments: 1 = local, then one more per merge level
    model: str | None = None  # the label of the model that answered (LLMClient.model_label)


@dataclass
class RoundRecord:
    """One BNE round: actions chosen, answers given, commitment made, and how far from a fixed point."""

    round: int
    actions: list[list[float]]  # (N, 2) scaled [T_i, p_i] as played (training adds exploration noise)
    belief_norms: list[float]
    answers: list[str | None]  # extracted answers
    commitment: str | None
    commitment_json_ok: bool
    commitment_fallback: bool
    residual: float | None  # max_i |μ_i(next round's obs) − μ_i(this round's obs)|, normalised policy means
    groups: list[int] | None = None  # hierarchical: the group of each executor; None in the flat game
    commitment_levels: list[list[str | None]] | None = None  # hierarchical: answers per tree level, local first
    step: int = 0  # the decision step this round belongs to
    commitment_changed: bool | None = None  # committed answer ≠ the previous round's; None in a step's round 0
    best_response_gap: list[float] | None = None  # ε_i per executor from its critic; None without one
    reward_terms: list[list[float]] | None = None  # (N, 3) [AL, TS, CC] of this round
    stop_reason: str | None = None  # on a decision step's last round: "fixed_point" | "max_rounds"


@dataclass
class EpisodeResult:
    """The outcome of one problem under one method."""

    method: str
    problem_id: str
    gold: str
    strategy: str
    strategy_leak: bool
    rounds: list[RoundRecord]
    final_answer: str | None
    correct: bool
    converged: bool  # the last decision step stopped at a fixed point
    reward_terms: list[list[float]]  # (N, 3) [AL, TS, CC] of the final round
    prompt_tokens: int
    completion_tokens: int
    llm_calls: int
    cache_hits: int
    wall_s: float
    calls: list[Call] = field(default_factory=list)
    stop_reason: str | None = None  # the last decision step's: "fixed_point" | "max_rounds"; None for baselines
    cost_usd: float | None = None  # USD of the tokens this problem spent (cache hits cost nothing); None: no price

    @property
    def rounds_used(self) -> int:
        return len(self.rounds)

    @property
    def parse_rate(self) -> float:
        return parse_rate(a for record in self.rounds for a in record.answers)

    def to_json(self, with_calls: bool = True) -> dict[str, Any]:
        data = asdict(self if with_calls else replace(self, calls=[]))  # no deep copy of calls to drop
        if not with_calls:
            data.pop("calls")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EpisodeResult:
        fields = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        fields["rounds"] = [RoundRecord(**record) for record in fields["rounds"]]
        fields["calls"] = [Call(**call) for call in fields.get("calls", [])]
        return cls(**fields)
