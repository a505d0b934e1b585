"""What the baselines share: a fixed sampling action, recorded calls, majority-vote rounds, the episode result."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from econ.data.answers import answers_match, majority_answer
from econ.data.datasets import Problem
from econ.errors import ConfigError
from econ.game import prompts
from econ.game.episode import call_seed
from econ.game.records import Call, EpisodeResult, RoundRecord
from econ.llm.base import Completion, Message, Sampling
from econ.llm.client import LLMClient


@dataclass(frozen=True)
class FixedAction:
    """Every call of a baseline samples with the same [T, p]: no beliefs choose it."""

    temperature: float
    penalty: float  # econ's repetition-penalty strength p in [0, 1]; the backend maps it
    top_p: float
    max_tokens: int
    seed: int

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigError(f"method.temperature={self.temperature}: use a value >= 0")
        if not 0 <= self.penalty <= 1:
            raise ConfigError(f"method.penalty={self.penalty}: use a value in [0, 1]")

    def sampling(self, *parts: object) -> Sampling:
        """Sampling for one call; its seed depends only on (run seed, parts), so re-runs hit the cache."""
        return Sampling(self.temperature, self.top_p, self.penalty, self.max_tokens, call_seed(self.seed, *parts))


class Baseline:
    """The protocol methods a baseline shares; each defines `settings()` (what decides its calls) and `play`."""

    needs_checkpoint = False

    def describe(self) -> dict[str, Any]:
        return {"baseline": self.settings()}

    def tag(self, players: Any) -> str:
        """Logged results are reused only under the same settings, budget and prompts."""
        settings = json.dumps(self.settings(), sort_keys=True)
        return f"{hashlib.sha256(settings.encode()).hexdigest()[:16]}-{prompts.template_fingerprint()}"


def whole(value: object, key: str, minimum: int) -> int:
    """A config value that must be a whole number >= minimum, or a one-line ConfigError naming the key."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{key}={value}: use a whole number >= {minimum}")
    return value


class Transcript:
    """One problem under one baseline: sends its calls, records each as a `Call`, builds the `EpisodeResult`.

    `client`: one client for every agent, or a list: agent i asks clients[i mod len] (a mixed team's debate).
    """

    def __init__(self, client: LLMClient | list[LLMClient], method: str, problem: Problem, action: FixedAction):
        self.clients = list(client) if isinstance(client, (list, tuple)) else [client]
        self.client, self.method, self.problem, self.action = self.clients[0], method, problem, action
        self.accounting_id = f"{method}:{problem.id}"
        self.calls: list[Call] = []
        self.start = time.perf_counter()

    async def ask(self, messages: list[Message], round_index: int, agent: int) -> Completion:
        """One solver call; its seed is keyed by (problem, method, round, agent)."""
        sampling = self.action.sampling(self.problem.id, self.method, round_index, agent)
        client = self.clients[agent % len(self.clients)]
        reply = await client.complete(messages, sampling, role="executor", problem_id=self.accounting_id)
        self.calls.append(
            Call(
                "executor",
                round_index,
                agent,
                messages,
                reply.text,
                reply.prompt_tokens,
                reply.completion_tokens,
                reply.cached,
                model=client.model_label,
            )
        )
        return reply

    @property
    def completion_tokens(self) -> int:
        """Completion tokens of this problem so far, cached replies included (what a token budget counts)."""
        return sum(call.completion_tokens for call in self.calls)

    def vote(self, round_index: int, answers: list[str | None]) -> RoundRecord:
        """A round whose outcome is the majority of its answers (no coordinator, so never JSON)."""
        action = [self.action.temperature, self.action.penalty]
        return RoundRecord(
            round=round_index,
            actions=[list(action) for _ in answers],
            belief_norms=[],
            answers=answers,
            commitment=majority_answer(answers, self.problem.dataset),
            commitment_json_ok=False,
            commitment_fallback=True,
            residual=None,
        )

    def result(self, rounds: list[RoundRecord]) -> EpisodeResult:
        """The episode: the last round's majority is the final answer; tokens count cached replies too."""
        usage = self.client.usage.problem(self.accounting_id)
        final = rounds[-1].commitment
        return EpisodeResult(
            method=self.method,
            problem_id=self.problem.id,
            gold=self.problem.answer,
            strategy="",
            strategy_leak=False,
            rounds=rounds,
            final_answer=final,
            correct=answers_match(final, self.problem.answer, self.problem.dataset),
            converged=False,  # no action fixed point to reach: every call samples the same action
            reward_terms=[],
            prompt_tokens=usage["prompt_tokens"] + usage["cached_prompt_tokens"],
            completion_tokens=usage["completion_tokens"] + usage["cached_completion_tokens"],
            llm_calls=usage["calls"] + usage["cache_hits"],
            cache_hits=usage["cache_hits"],
            wall_s=time.perf_counter() - self.start,
            calls=self.calls,
            cost_usd=self.client.usage.problem_cost(self.accounting_id),
        )
