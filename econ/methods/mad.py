"""Multi-agent debate (Du et al., 2023): agents revise their answers after reading all the others'."""

from __future__ import annotations

import asyncio
import math

from econ.data.answers import extract_answer
from econ.data.datasets import Problem
from econ.game import prompts
from econ.game.records import EpisodeResult, RoundRecord
from econ.methods import Players
from econ.methods.budget import load_budget, nearest_whole
from econ.methods.transcript import Baseline, FixedAction, Transcript, whole


class Debate(Baseline):
    """N agents answer alone in round 0; in each later round every agent reads its own previous answer and
    all N−1 others' in full, then answers again. The last round's majority is the final answer.

    Calls per problem = N·R (R counts round 0). Prompt tokens per round grow O(N²·L). Agent i answers with
    executor i's model (`Players.executor`), so a mixed team debates heterogeneously.
    Budget `calls`: R = the whole number nearest target/N (≥ 1), so N·R is the feasible value nearest the
    target. Budget `completion_tokens`: rounds run until the problem's completion tokens reach the target;
    a round is never cut short.
    """

    def __init__(
        self,
        name: str,
        agents: int,
        rounds: int,
        temperature: float,
        penalty: float,
        top_p: float,
        max_tokens: int,
        seed: int,
        budget: str | None = None,
        budget_source: str | None = None,
        budget_method: str = "econ",
    ):
        self.name = name
        self.agents = whole(agents, "method.agents", 2)
        self.action = FixedAction(temperature, penalty, top_p, max_tokens, seed)
        self.budget = load_budget(budget, budget_source, budget_method)
        if self.budget is None:
            self.rounds: int | None = whole(rounds, "method.rounds", 1)
        else:
            self.rounds = nearest_whole(self.budget.target / self.agents) if self.budget.kind == "calls" else None

    def settings(self) -> dict:
        """This method's settings and the budget it matched (results.json: `baseline`)."""
        budget = None
        if self.budget is not None:
            matched = (
                f"{self.agents * self.rounds} calls ({self.agents} agents x {self.rounds} rounds)"
                if self.rounds
                else f">= {self.budget.target:.0f} completion tokens"
            )
            budget = {**self.budget.describe(), "matched_per_problem": matched}
        return {
            "method": self.name,
            "agents": self.agents,
            "rounds": self.rounds,
            "temperature": self.action.temperature,
            "penalty": self.action.penalty,
            "budget": budget,
        }

    async def play(self, players: Players, problem: Problem) -> EpisodeResult:
        transcript = Transcript([players.executor(i) for i in range(self.agents)], self.name, problem, self.action)
        texts: list[str] = []
        rounds: list[RoundRecord] = []
        while not self._done(transcript, len(rounds)):
            r = len(rounds)
            if r == 0:
                messages = [prompts.solver_messages(problem.question)] * self.agents
            else:
                messages = [
                    prompts.debate_messages(problem.question, texts[i], texts[:i] + texts[i + 1 :])
                    for i in range(self.agents)
                ]
            replies = await asyncio.gather(*(transcript.ask(messages[i], r, i) for i in range(self.agents)))
            texts = [reply.text for reply in replies]
            rounds.append(transcript.vote(r, [extract_answer(text) for text in texts]))
        return transcript.result(rounds)

    def _done(self, transcript: Transcript, rounds_played: int) -> bool:
        if self.rounds is not None:
            return rounds_played >= self.rounds
        target = self.budget.target
        # every round costs at least one token per agent, so ceil(target / N) rounds bound the loop
        return rounds_played > 0 and (
            transcript.completion_tokens >= target or rounds_played >= math.ceil(target / self.agents)
        )
