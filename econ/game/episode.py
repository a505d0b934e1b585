"""One ECON episode: a strategy, then K BNE rounds of beliefs → actions → answers → commitment.

Executors answer concurrently, each under its own sampling action, and never see each
other's text: only the question, the strategy, their own last answer and the last
commitment. Rounds stop early at a fixed point of the action profile.
With agents.group_size = g < N the coordination is hierarchical (econ/game/hierarchy.py):
one strategy per group of g executors, and the commitment comes from a tree of coordinators;
executors see their group's strategy and the global commitment, so no prompt grows with N.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass

import torch

from econ.data.answers import answers_match, extract_answer, majority_answer
from econ.data.datasets import Problem
from econ.embed.base import Embedder
from econ.embed.offload import encode_async
from econ.game import prompts
from econ.game.hierarchy import commit_tree
from econ.game.prompts import Commitment
from econ.game.records import Call, EpisodeResult, RoundRecord
from econ.game.rewards import reward_terms
from econ.hierarchy import partition
from econ.llm.base import Completion, Sampling
from econ.llm.client import LLMClient
from econ.nn.belief import BeliefNetwork, explore
from econ.nn.transition import Transition

log = logging.getLogger(__name__)

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
    group_size: int | None = None  # executors per local coordinator; None or ≥ n_agents: the flat game
    structured_commitment: bool = True  # ask every commitment call for prompts.COMMITMENT_SCHEMA (structured output)

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
            group_size=agents.get("group_size"),
            structured_commitment=agents.get("structured_commitment", True),
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
        self.groups = partition(settings.n_agents, settings.group_size)  # one group: the flat game
        self.group_of = [k for k, members in enumerate(self.groups) for _ in members]
        self.hierarchical = len(self.groups) > 1
        if client.max_concurrency < settings.n_agents and client.backend.backend != "local":
            log.warning(
                "llm.max_concurrency=%d < agents.n_agents=%d: a round's executors run in %d waves, not at once; "
                "set llm.max_concurrency >= %d (times llm.problem_concurrency) to overlap them",
                client.max_concurrency, settings.n_agents, -(-settings.n_agents // client.max_concurrency),
                settings.n_agents,
            )

    async def play(
        self, problem: Problem, method: str, k_rounds: int, sigma: float = 0.0, generator: torch.Generator | None = None
    ) -> tuple[EpisodeResult, list[Transition]]:
        """Play one problem with up to k_rounds BNE rounds per decision step; sigma > 0 explores."""
        start = time.perf_counter()
        s = self.settings
        accounting_id = f"{method}:{problem.id}"
        calls: list[Call] = []

        # Text embeddings run in a worker thread, overlapping the LLM call that does not need them.
        (q_emb,), strategies = await asyncio.gather(
            encode_async(self.embedder, [problem.question]),
            self._strategies(problem, accounting_id, calls),  # one per group
        )
        s_emb = (await encode_async(self.embedder, strategies))[self.group_of]  # (N, E): each executor's group's

        rounds: list[RoundRecord] = []
        transitions: list[Transition] = []
        texts: list[str | None] = [None] * s.n_agents
        answer_embs = torch.zeros(s.n_agents, q_emb.shape[-1])  # (N, E) of texts
        commitment_text: str | None = None
        commitment_emb: torch.Tensor | None = None  # (E,) of commitment_text
        commitment_answer: str | None = None
        converged = False
        terms = torch.zeros(s.n_agents, 3)
        round_index = 0
        for step in range(s.max_rounds):
            previous_u: torch.Tensor | None = None
            step_obs = step_u = None
            for k in range(k_rounds):
                obs = self._observe(q_emb, s_emb, texts, answer_embs, commitment_emb)  # (N, F, E)
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
                        self._executor_prompt(problem.question, strategies[self.group_of[i]], texts[i], commitment_text),
                        "executor", accounting_id,
                        Sampling(float(actions[i, 0]), s.top_p, float(actions[i, 1]), s.max_tokens_executor,
                                 call_seed(s.seed, problem.id, "executor", i, step, k)),
                        calls, role="executor", round_index=round_index, agent=i, group=self._group(i),
                    )
                    for i in range(s.n_agents)
                ))
                texts = [reply.text for reply in replies]
                extracted = [extract_answer(text) for text in texts]
                answer_embs, (commitment, levels) = await asyncio.gather(
                    encode_async(self.embedder, texts),
                    self._commit(problem, strategies, texts, extracted, (step, k), round_index, accounting_id, calls),
                )
                commitment_answer = commitment.answer
                commitment_text = _commitment_text(commitment_answer, commitment.justification)
                commitment_emb = (await encode_async(self.embedder, [commitment_text]))[0] if commitment_text else None
                rounds.append(RoundRecord(
                    round=round_index,
                    actions=actions.tolist(),
                    belief_norms=beliefs[0].norm(dim=-1).tolist(),
                    answers=extracted,
                    commitment=commitment_answer,
                    commitment_json_ok=commitment.json_ok,
                    commitment_fallback=commitment.fallback,
                    residual=residual,
                    groups=self.group_of if self.hierarchical else None,
                    commitment_levels=levels,
                ))
                round_index += 1

            if commitment_emb is None:
                final_commitment_emb = (await encode_async(self.embedder, [""]))[0]
            else:
                final_commitment_emb = commitment_emb
            terms = reward_terms(rounds[-1].answers, commitment_answer, problem.answer, problem.dataset)
            done = step == s.max_rounds - 1
            transitions.append(Transition(
                obs=step_obs,
                action=step_u,
                reward_terms=terms,
                commitment=final_commitment_emb,
                team_correct=torch.tensor(float(answers_match(commitment_answer, problem.answer, problem.dataset))),
                next_obs=self._observe(q_emb, s_emb, texts, answer_embs, commitment_emb),
                done=torch.tensor(float(done)),
            ))

        usage = self.client.usage.problem(accounting_id)
        result = EpisodeResult(
            method=method,
            problem_id=problem.id,
            gold=problem.answer,
            strategy=strategies[0] if not self.hierarchical else "\n".join(
                f"Group {k + 1}: {strategy}" for k, strategy in enumerate(strategies)),
            strategy_leak=any(prompts.strategy_leaks_answer(strategy, problem.question, problem.answer, problem.dataset)
                              for strategy in strategies),
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

    def _group(self, agent: int) -> int | None:
        return self.group_of[agent] if self.hierarchical else None

    async def _strategies(self, problem: Problem, accounting_id: str, calls: list[Call]) -> list[str]:
        """One strategy per group, written concurrently; the flat game's single one keeps its original seed."""
        s = self.settings
        keys = [(k,) for k in range(len(self.groups))] if self.hierarchical else [()]
        replies = await asyncio.gather(*(
            self._call(
                prompts.strategy_messages(problem.question), "coordinator", accounting_id,
                Sampling(s.coordinator_temperature, s.top_p, 0.0, s.max_tokens_strategy,
                         call_seed(s.seed, problem.id, "strategy", *key)),
                calls, role="strategy", round_index=0, agent=None, group=key[0] if key else None,
            )
            for key in keys
        ))
        return [reply.text.strip() for reply in replies]

    async def _commit(
        self, problem: Problem, strategies: list[str], texts: list[str], extracted: list[str | None],
        step_k: tuple[int, int], round_index: int, accounting_id: str, calls: list[Call],
    ) -> tuple[Commitment, list[list[str | None]] | None]:
        """The round's commitment: one coordinator over all answers (flat), or the group tree (hierarchical).

        Every commitment call, at every level of the tree, asks for the commitment schema when
        agents.structured_commitment is on.
        """
        s = self.settings
        schema = prompts.COMMITMENT_SCHEMA if s.structured_commitment else None

        def sampling(*parts: object) -> Sampling:
            return Sampling(s.coordinator_temperature, s.top_p, 0.0, s.max_tokens_commitment,
                            call_seed(s.seed, problem.id, *parts, *step_k))

        if not self.hierarchical:
            reply = await self._call(
                prompts.commitment_messages(problem.question, strategies[0], texts), "coordinator", accounting_id,
                sampling("commitment"), calls, role="commitment", round_index=round_index, agent=None,
                json_schema=schema,
            )
            answer, justification, json_ok = prompts.parse_commitment(reply.text)
            if not json_ok:
                return Commitment(majority_answer(extracted, problem.dataset), justification, False, True), None
            return Commitment(answer, justification, True, False), None

        async def coordinator(messages, role: str, level: int, node: int) -> Completion:
            return await self._call(messages, "coordinator", accounting_id, sampling(role, level, node), calls,
                                    role=role, round_index=round_index, agent=None, group=node, level=level,
                                    json_schema=schema)

        tree = await commit_tree(problem.question, problem.dataset, strategies, self.groups, texts, extracted,
                                 s.group_size, coordinator)
        return tree.root, tree.levels

    def _executor_prompt(self, question: str, strategy: str, own_text: str | None, commitment: str | None):
        if not self.settings.executors_see_commitment:
            return prompts.executor_messages(question, strategy)
        return prompts.executor_messages(question, strategy, own_text, commitment)

    def _observe(
        self, q_emb: torch.Tensor, s_emb: torch.Tensor, texts: list[str | None], answer_embs: torch.Tensor,
        commitment_emb: torch.Tensor | None,
    ) -> torch.Tensor:
        """(N, F, E) observation: [question, strategy, own last answer, last commitment]; zeros when absent."""
        n, dim = self.settings.n_agents, q_emb.shape[-1]
        obs = torch.zeros(n, N_FIELDS, dim)
        obs[:, 0] = q_emb
        obs[:, 1] = s_emb
        present = [i for i, text in enumerate(texts) if text]
        if present:
            obs[present, 2] = answer_embs[present]
        if commitment_emb is not None:
            obs[:, 3] = commitment_emb
        return obs

    async def _call(
        self, messages, usage_role: str, accounting_id: str, sampling: Sampling, calls: list[Call],
        role: str, round_index: int, agent: int | None, group: int | None = None, level: int | None = None,
        json_schema: dict | None = None,
    ) -> Completion:
        reply = await self.client.complete(
            messages, sampling, role=usage_role, problem_id=accounting_id, sample_index=0, json_schema=json_schema
        )
        calls.append(Call(role, round_index, agent, messages, reply.text, reply.prompt_tokens,
                          reply.completion_tokens, reply.cached, group, level))
        return reply


def _commitment_text(answer: str | None, justification: str) -> str | None:
    if answer is None:
        return None
    return f"The answer is {answer}." + (f" {justification.strip()}" if justification.strip() else "")
