"""Self-consistency (Wang et al., 2023): n chain-of-thought samples of one prompt, majority vote.

`method=single` is this with one greedy sample.
"""

from __future__ import annotations

import asyncio
import math

from econ.data.answers import extract_answer
from econ.data.datasets import Problem
from econ.game import prompts
from econ.game.records import EpisodeResult
from econ.methods import Players
from econ.methods.budget import load_budget, nearest_whole
from econ.methods.transcript import Baseline, FixedAction, Transcript, whole


class SelfConsistency(Baseline):
    """n samples at a fixed [T, p]; the most common answer wins.

    Budget `calls`: n = the matched run's calls per problem, rounded to the nearest whole number.
    Budget `completion_tokens`: samples are drawn one at a time until the problem's completion tokens
    reach the target, so the last sample overshoots it by less than one sample.
    Every sample comes from executor `executor`'s model (0: the executors' model; in a mixed team, its first).
    """

    def __init__(
        self,
        name: str,
        samples: int,
        temperature: float,
        penalty: float,
        top_p: float,
        max_tokens: int,
        seed: int,
        budget: str | None = None,
        budget_source: str | None = None,
        budget_method: str = "econ",
        executor: int = 0,
    ):
        self.name = name
        self.executor = whole(executor, "method.executor", 0)
        self.action = FixedAction(temperature, penalty, top_p, max_tokens, seed)
        self.budget = load_budget(budget, budget_source, budget_method)
        if self.budget is None:
            self.samples: int | None = whole(samples, "method.samples", 1)
        else:
            self.samples = nearest_whole(self.budget.target) if self.budget.kind == "calls" else None

    def settings(self) -> dict:
        """This method's settings and the budget it matched (results.json: `baseline`)."""
        budget = None
        if self.budget is not None:
            matched = f"{self.samples} calls" if self.samples else f">= {self.budget.target:.0f} completion tokens"
            budget = {**self.budget.describe(), "matched_per_problem": matched}
        return {
            "method": self.name,
            "samples": self.samples,
            "temperature": self.action.temperature,
            "penalty": self.action.penalty,
            "budget": budget,
            **({"executor": self.executor} if self.executor else {}),  # absent at 0: tags of earlier runs hold
        }

    async def play(self, players: Players, problem: Problem) -> EpisodeResult:
        transcript = Transcript(players.executor(self.executor), self.name, problem, self.action)
        messages = prompts.solver_messages(problem.question)
        if self.samples is not None:
            replies = await asyncio.gather(*(transcript.ask(messages, 0, i) for i in range(self.samples)))
        else:
            target, replies = self.budget.target, []
            # every reply costs at least one token, so ceil(target) samples bound the loop
            while transcript.completion_tokens < target and len(replies) < math.ceil(target):
                replies.append(await transcript.ask(messages, 0, len(replies)))
        answers = [extract_answer(reply.text) for reply in replies]
        return transcript.result([transcript.vote(0, answers)])
