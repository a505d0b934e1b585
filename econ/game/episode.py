"""One ECON episode: a strategy, then K BNE rounds of beliefs → actions → answers → commitment.

Executors answer concurrently, each under its own sampling action, and never see each
other's text: only the question, the strategy, their own last answer and the last
commitment. Rounds stop early at a fixed point of the action profile.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

import torch

from econ.data.answers import answers_match, extract_answer, majority_answer
from econ.data.datasets import Problem
from econ.embed.base import Embedder
from econ.game import prompts
from econ.game.records import Call, EpisodeResult, RoundRecord
from econ.game.rewards import reward_terms
from econ.llm.base import Completion, Sampling
from econ.llm.client import LLMClient
from econ.nn.belief import BeliefNetwork, explore
from econ.nn.transition import Transition

N_FIELDS = 4  # question, strategy, own last answer, last commitment


@dataclass(frozen=True)
class GameSettings:
    """What the game needs from the `agents` and `bne` config groups."""

    n_agents: int
    top_p: float
    max_tokens_strategy: int
    max_tokens_executor: int
    max_tokens_commitment: int
    coordinator_temperature: float
    threshold: float
    max_rounds: int
    executors_see_commitment: bool
    seed: int

    @classmethod
    def from_config(cls, cfg) -> GameSettings:
        agents, bne = cfg.agents, cfg.bne
        return cls(
            n_agents=agents.n_agents,
            top_p=agents.top_p,
            max_tokens_strategy=agents.max_tokens_strategy,
            max_tokens_executor=agents.max_tokens_executor,
            max_tokens_commitment=agents.max_tokens_commitment,
            coordinator_temperature=agents.coordinator_temperature,
            threshold=bne.threshold,
            max_rounds=bne.max_rounds,
            executors_see_commitment=bne.executors_see_commitment,
            seed=cfg.seed,
        )


def call_seed(seed: int, *parts: object) -> int:
    """A stable per-call sampling seed, so re-runs hit the cache and runs are reproducible."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).hexdigest()
    return int(digest[:8], 16)


class EpisodeRunner:
    """Plays problems with the current belief network; holds no learning state itself."""

    def __init__(self, client: LLMClient, embedder: Embedder, belief: BeliefNetwork, settings: GameSettings):
        self.client = client
        self.embedder = embedder
        self.belief = belief
        self.settings = settings

    async def play(
        self, problem: Problem, method: str, k_rounds: int, sigma: float = 0.0, generator: torch.Generator | None = None
    ) -> tuple[EpisodeResult, list[Transition]]:
        """Play one problem with up to k_rounds BNE rounds per decision step; sigma > 0 explores."""
        start = time.perf_counter()
        s = self.settings
        accounting_id = f"{method}:{problem.id}"
        calls: list[Call] = []

        strategy_reply = await self._call(
            prompts.strategy_messages(problem.question), "coordinator", accounting_id,
            Sampling(s.coordinator_temperature, s.top_p, 0.0, s.max_tokens_strategy, call_seed(s.seed, problem.id, "strategy")),
            calls, role="strategy", round_index=0, agent=None,
        )
        strategy = strategy_reply.text.strip()
        q_emb, s_emb = self.embedder.encode([problem.question, strategy])

        rounds: list[RoundRecord] = []
        transitions: list[Transition] = []
        texts: list[str | None] = [None] * s.n_agents
        commitment_text: str | None = None
        commitment_answer: str | None = None
        converged = False
        terms = torch.zeros(s.n_agents, 3)
        round_index = 0
        for step in range(s.max_rounds):
            previous_u: torch.Tensor | None = None
            step_obs = step_u = None
            for k in range(k_rounds):
                obs = self._observe(q_emb, s_emb, texts, commitment_text)  # (N, F, E)
                with torch.no_grad():
                    beliefs = self.belief(obs[None])  # (1, N, belief_dim)
                    u = self.belief.action_mean(beliefs)[0]  # (N, 2) in [0, 1]
                    if sigma > 0:
                        u = explore(u, sigma, generator)
                    actions = self.belief.scale_action(u[None])[0]  # (N, 2) [T, p]
                residual = None if previous_u is None else float((u - previous_u).abs().max())
                if residual is not None and residual < s.threshold:
                    converged = True  # no executor changes its best response: a fixed point
                    break
                previous_u, step_obs, step_u = u, obs, u
                replies = await asyncio.gather(*(
                    self._call(
                        self._executor_prompt(problem.question, strategy, texts[i], commitment_text),
                        "executor", accounting_id,
                        Sampling(float(actions[i, 0]), s.top_p, float(actions[i, 1]), s.max_tokens_executor,
                                 call_seed(s.seed, problem.id, "executor", i, step, k)),
                        calls, role="executor", round_index=round_index, agent=i,
                    )
                    for i in range(s.n_agents)
                ))
                texts = [reply.text for reply in replies]
                extracted = [extract_answer(text) for text in texts]
                commit_reply = await self._call(
                    prompts.commitment_messages(problem.question, strategy, texts), "coordinator", accounting_id,
                    Sampling(s.coordinator_temperature, s.top_p, 0.0, s.max_tokens_commitment,
                             call_seed(s.seed, problem.id, "commitment", step, k)),
                    calls, role="commitment", round_index=round_index, agent=None,
                )
                commitment_answer, justification, json_ok = prompts.parse_commitment(commit_reply.text)
                fallback = not json_ok
                if fallback:
                    commitment_answer = majority_answer(extracted, problem.dataset)
                commitment_text = _commitment_text(commitment_answer, justification)
                rounds.append(RoundRecord(
                    round=round_index,
                    actions=actions.tolist(),
                    belief_norms=beliefs[0].norm(dim=-1).tolist(),
                    answers=extracted,
                    commitment=commitment_answer,
                    commitment_json_ok=json_ok,
                    commitment_fallback=fallback,
                    residual=residual,
                ))
                round_index += 1

            final_texts = [text or "" for text in texts]
            embeddings = self.embedder.encode(final_texts + [commitment_text or ""])  # (N + 1, E)
            terms = reward_terms(
                rounds[-1].answers, embeddings[:-1], commitment_answer, embeddings[-1], problem.answer, problem.dataset
            )
            done = step == s.max_rounds - 1
            transitions.append(Transition(
                obs=step_obs,
                action=step_u,
                reward_terms=terms,
                commitment=embeddings[-1],
                team_correct=torch.tensor(float(answers_match(commitment_answer, problem.answer, problem.dataset))),
                next_obs=self._observe(q_emb, s_emb, texts, commitment_text),
                done=torch.tensor(float(done)),
            ))

        usage = self.client.usage.problem(accounting_id)
        result = EpisodeResult(
            method=method,
            problem_id=problem.id,
            gold=problem.answer,
            strategy=strategy,
            strategy_leak=prompts.strategy_leaks_answer(strategy, problem.question, problem.answer, problem.dataset),
            rounds=rounds,
            final_answer=commitment_answer,
            correct=answers_match(commitment_answer, problem.answer, problem.dataset),
            converged=converged,
            reward_terms=terms.tolist(),
            prompt_tokens=usage["prompt_tokens"] + usage["cached_prompt_tokens"],
            completion_tokens=usage["completion_tokens"] + usage["cached_completion_tokens"],
            llm_calls=usage["calls"] + usage["cache_hits"],
            cache_hits=usage["cache_hits"],
            wall_s=time.perf_counter() - start,
            calls=calls,
        )
        return result, transitions

    def _executor_prompt(self, question: str, strategy: str, own_text: str | None, commitment: str | None):
        if not self.settings.executors_see_commitment:
            return prompts.executor_messages(question, strategy)
        return prompts.executor_messages(question, strategy, own_text, commitment)

    def _observe(
        self, q_emb: torch.Tensor, s_emb: torch.Tensor, texts: list[str | None], commitment: str | None
    ) -> torch.Tensor:
        """(N, F, E) observation: [question, strategy, own last answer, last commitment]; zeros when absent."""
        n, dim = self.settings.n_agents, q_emb.shape[-1]
        obs = torch.zeros(n, N_FIELDS, dim)
        obs[:, 0] = q_emb
        obs[:, 1] = s_emb
        present = [i for i, text in enumerate(texts) if text]
        if present:
            obs[present, 2] = self.embedder.encode([texts[i] for i in present])
        if commitment:
            obs[:, 3] = self.embedder.encode([commitment])[0]
        return obs

    async def _call(
        self, messages, usage_role: str, accounting_id: str, sampling: Sampling, calls: list[Call],
        role: str, round_index: int, agent: int | None,
    ) -> Completion:
        reply = await self.client.complete(
            messages, sampling, role=usage_role, problem_id=accounting_id, sample_index=0
        )
        calls.append(Call(role, round_index, agent, messages, reply.text, reply.prompt_tokens,
                          reply.completion_tokens, reply.cached))
        return reply


def _commitment_text(answer: str | None, justification: str) -> str | None:
    if answer is None:
        return None
    return f"The answer is {answer}." + (f" {justification.strip()}" if justification.strip() else "")
