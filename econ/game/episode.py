"""One ECON episode: a strategy, then up to K BNE rounds of beliefs → actions → answers → commitment.

Executors answer concurrently, each under its own sampling action, and never see each
other's text: only the question, the strategy, their own last answer and the last
commitment. With agents.group_size = g < N the coordination is hierarchical
(econ/game/tree.py): one strategy per group of g executors, and the commitment comes from a
tree of coordinators; executors see their group's strategy and the global commitment, so no
prompt grows with N.

What "BNE" means here, exactly: the rounds iterate the map (observation → belief → action →
answers → commitment → next observation) and stop after round k ≥ 1 at a fixed point of the
team's play: round k committed the same answer as round k−1, AND the policy would not move if
another round were played, max_i |μ_i(o_{k+1}) − μ_i(o_k)| < bne.threshold (policy means in
normalised units, never exploration noise). Both are needed: actions that stop moving while
the answers flip are no equilibrium, and a commitment that holds while the policy still moves
is not a fixed point of the policy. A round without a committed answer is never one. How far each
agent is from a best response is measured, not assumed: ε_i = max_u Q_i(b_i, u) − Q_i(b_i, μ_i(b_i))
from its own critic, every round.

Training scores each round by its own answers and commitment (y = r): the learner does not credit
round k's actions with round k+1's outcome; rounds are coupled in play, through the commitment
every executor observes next, not in the targets. Only a decision step's last round bootstraps
into the next decision step (bne.max_rounds > 1).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from econ.data.answers import answers_match, extract_answer, majority_answer
from econ.data.datasets import Problem
from econ.embed.base import Embedder
from econ.embed.offload import encode_async
from econ.game import prompts
from econ.game.policy import ActionPolicy, PolicyStep
from econ.game.prompts import Commitment
from econ.game.records import Call, EpisodeResult, RoundRecord
from econ.game.rewards import reward_terms
from econ.game.tree import commit_tree
from econ.llm.base import Completion, Sampling
from econ.llm.client import LLMClient
from econ.llm.team import Team
from econ.nn.groups import partition
from econ.nn.observation import Observation, answer_sentence
from econ.nn.transition import Transition

log = logging.getLogger(__name__)

FIXED_POINT, MAX_ROUNDS = "fixed_point", "max_rounds"  # why a decision step's rounds stopped


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


@dataclass
class RoundOutcome:
    """What one BNE round produced, and what the next round observes."""

    obs: Observation  # what the round's actions were chosen from
    policy: PolicyStep
    texts: list[str]
    extracted: list[str | None]
    commitment: Commitment
    commitment_emb: Tensor  # (E,) embedding of the commitment's answer sentence; zeros when it has none
    next_obs: Observation
    levels: list[list[str | None]] | None  # hierarchical: answers committed per tree level


@dataclass
class EpisodeState:
    """One problem's play so far: what later rounds observe and what the episode reports."""

    problem: Problem
    method: str
    strategies: list[str] = field(default_factory=list)  # one per group
    obs: Observation | None = None  # what the next round's actions are chosen from
    last: RoundOutcome | None = None  # the latest round (across decision steps)
    stop_reason: str = MAX_ROUNDS  # the current decision step's
    calls: list[Call] = field(default_factory=list)
    records: list[RoundRecord] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)

    @property
    def accounting_id(self) -> str:
        return f"{self.method}:{self.problem.id}"


def commitment_changed(previous: str | None, current: str | None, dataset: str) -> bool:
    """Did the committed answer change between two rounds? A missing answer always counts as a change."""
    if previous is None or current is None:
        return True
    return " ".join(previous.split()) != " ".join(current.split()) and not answers_match(current, previous, dataset)


def action_residual(current: Tensor, following: Tensor) -> float:
    """max_i |μ_i(o_{k+1}) − μ_i(o_k)| over executors and both action dimensions, in normalised units."""
    return float((following - current).abs().max())


def at_fixed_point(changed: bool, residual: float, threshold: float) -> bool:
    """The team's play repeated itself: the same committed answer, and no executor's policy moved."""
    return not changed and residual < threshold


class EpisodeRunner:
    """Plays problems under an action policy; holds no learning state itself.

    `client` is one LLMClient for every role, or a `Team`: executor i asks `team.executor(i)`, the
    strategy and every commitment (each level of the tree) ask `team.coordinator`.
    """

    def __init__(self, client: LLMClient | Team, embedder: Embedder, settings: GameSettings):
        self.team = client if isinstance(client, Team) else Team.of(client, settings.n_agents)
        self.client = self.team.coordinator  # its usage tracker is the whole team's
        self.embedder = embedder
        self.settings = settings
        self.groups = partition(settings.n_agents, settings.group_size)  # one group: the flat game
        self.group_of = [k for k, members in enumerate(self.groups) for _ in members]
        self.hierarchical = len(self.groups) > 1
        for executor in self.team.clients:
            served = sum(self.team.executor(i) is executor for i in range(settings.n_agents))
            if served and executor.max_concurrency < served and executor.backend.backend != "local":
                who = f"agents.n_agents={served}" if served == settings.n_agents else f"{served} executors on"
                log.warning(
                    "llm.max_concurrency=%d < %s%s: a round's executors run in %d waves, not at once; "
                    "set llm.max_concurrency >= %d (times llm.problem_concurrency) to overlap them",
                    executor.max_concurrency,
                    who,
                    "" if served == settings.n_agents else f" {executor.model_label}",
                    -(-served // executor.max_concurrency),
                    served,
                )

    async def play(
        self, problem: Problem, method: str, k_rounds: int, policy: ActionPolicy
    ) -> tuple[EpisodeResult, list[Transition]]:
        """Play one problem: the strategy, then per decision step up to k_rounds BNE rounds; one transition per round."""
        start = time.perf_counter()
        state = EpisodeState(problem, method)
        await self.open(state)
        for step in range(self.settings.max_rounds):
            await self.decision_step(state, step, k_rounds, policy)
        return self.result(state, time.perf_counter() - start), state.transitions

    async def open(self, state: EpisodeState) -> None:
        """The coordinator's strategy (one per group) and the first round's observation."""
        # Text embeddings run in a worker thread, overlapping the LLM call that does not need them.
        (q_emb,), state.strategies = await asyncio.gather(
            encode_async(self.embedder, [state.problem.question]),
            self._strategies(state.problem, state.accounting_id, state.calls),  # one per group
        )
        s_emb = (await encode_async(self.embedder, state.strategies))[self.group_of]  # (N, E): each executor's group's
        state.obs = Observation.first_round(q_emb, s_emb)

    async def decision_step(self, state: EpisodeState, step: int, k_rounds: int, policy: ActionPolicy) -> None:
        """Up to k_rounds BNE rounds, stopping after round k >= 1 at a fixed point of the team's play."""
        previous: RoundOutcome | None = None  # the fixed-point test never looks across decision steps
        state.stop_reason = MAX_ROUNDS
        for k in range(k_rounds):
            outcome = await self.play_round(state, policy, (step, k))
            residual = action_residual(outcome.policy.mean, policy.mean(outcome.next_obs))
            changed = None
            if previous is not None:
                changed = commitment_changed(
                    previous.commitment.answer, outcome.commitment.answer, state.problem.dataset
                )
                if at_fixed_point(changed, residual, self.settings.threshold):
                    state.stop_reason = FIXED_POINT
            last_of_step = state.stop_reason == FIXED_POINT or k == k_rounds - 1
            self.score_round(state, outcome, step, changed, residual, last_of_step)
            previous = state.last = outcome
            state.obs = outcome.next_obs
            if last_of_step:
                return

    def score_round(
        self,
        state: EpisodeState,
        outcome: RoundOutcome,
        step: int,
        changed: bool | None,
        residual: float,
        last_of_step: bool,
    ) -> None:
        """The round's reward terms, its trace record and its transition, scored by its own outcome."""
        problem = state.problem
        terms = reward_terms(outcome.extracted, outcome.commitment.answer, problem.answer, problem.dataset)
        state.records.append(
            self._record(
                outcome, len(state.records), step, changed, residual, terms, state.stop_reason if last_of_step else None
            )
        )
        state.transitions.append(
            Transition(
                obs=outcome.obs.fields,
                flags=outcome.obs.flags,
                action=outcome.policy.played,
                reward_terms=terms,
                commitment=outcome.commitment_emb,
                team_correct=torch.tensor(
                    float(answers_match(outcome.commitment.answer, problem.answer, problem.dataset))
                ),
                next_obs=outcome.next_obs.fields,
                next_flags=outcome.next_obs.flags,
                # each round is scored by its own outcome; only a decision step's last round bootstraps
                done=torch.tensor(float(not last_of_step or step == self.settings.max_rounds - 1)),
            )
        )

    def result(self, state: EpisodeState, wall_s: float) -> EpisodeResult:
        """The episode's record: the last commitment is the final answer; tokens count cached replies too."""
        problem, strategies = state.problem, state.strategies
        usage = self.client.usage.problem(state.accounting_id)
        final = state.last.commitment.answer
        return EpisodeResult(
            method=state.method,
            problem_id=problem.id,
            gold=problem.answer,
            strategy=strategies[0]
            if not self.hierarchical
            else "\n".join(f"Group {k + 1}: {strategy}" for k, strategy in enumerate(strategies)),
            strategy_leak=any(
                prompts.strategy_leaks_answer(strategy, problem.question, problem.answer, problem.dataset)
                for strategy in strategies
            ),
            rounds=state.records,
            final_answer=final,
            correct=answers_match(final, problem.answer, problem.dataset),
            converged=state.stop_reason == FIXED_POINT,
            stop_reason=state.stop_reason,
            reward_terms=state.records[-1].reward_terms,
            prompt_tokens=usage["prompt_tokens"] + usage["cached_prompt_tokens"],
            completion_tokens=usage["completion_tokens"] + usage["cached_completion_tokens"],
            llm_calls=usage["calls"] + usage["cache_hits"],
            cache_hits=usage["cache_hits"],
            wall_s=wall_s,
            calls=state.calls,
            cost_usd=self.client.usage.problem_cost(state.accounting_id),
        )

    async def play_round(self, state: EpisodeState, policy: ActionPolicy, step_k: tuple[int, int]) -> RoundOutcome:
        """One BNE round from the state's observation: act (the policy's actions), N executor answers, the
        commitment, the next observation."""
        s = self.settings
        problem, strategies, obs, last = state.problem, state.strategies, state.obs, state.last
        round_index, accounting_id, calls = len(state.records), state.accounting_id, state.calls
        acted = policy.act(obs)
        previous_texts = last.texts if last is not None else [None] * s.n_agents
        previous_commitment = _commitment_text(last.commitment) if last is not None else None
        replies = await asyncio.gather(
            *(
                self._call(
                    self._executor_prompt(
                        problem.question, strategies[self.group_of[i]], previous_texts[i], previous_commitment
                    ),
                    "executor",
                    accounting_id,
                    Sampling(
                        float(acted.actions[i, 0]),
                        s.top_p,
                        float(acted.actions[i, 1]),
                        s.max_tokens_executor,
                        call_seed(s.seed, problem.id, "executor", i, *step_k),
                    ),
                    calls,
                    role="executor",
                    round_index=round_index,
                    agent=i,
                    group=self._group(i),
                    client=self.team.executor(i),
                )
                for i in range(s.n_agents)
            )
        )
        texts = [reply.text for reply in replies]
        extracted = [extract_answer(text) for text in texts]
        finals = [answer_sentence(answer) or "" for answer in extracted]
        embeddings, (commitment, levels) = await asyncio.gather(
            encode_async(self.embedder, texts + finals),  # overlaps the commitment call
            self._commit(problem, strategies, texts, extracted, step_k, round_index, accounting_id, calls),
        )
        sentence = answer_sentence(commitment.answer)
        commitment_emb = (
            (await encode_async(self.embedder, [sentence]))[0] if sentence else torch.zeros(embeddings.shape[-1])
        )
        agrees = [
            commitment.answer is not None and answers_match(a, commitment.answer, problem.dataset) for a in extracted
        ]
        next_obs = obs.after_round(
            embeddings[: s.n_agents],
            embeddings[s.n_agents :],
            [a is not None for a in extracted],
            commitment_emb if sentence else None,
            agrees,
        )
        return RoundOutcome(obs, acted, texts, extracted, commitment, commitment_emb, next_obs, levels)

    def _record(
        self,
        outcome: RoundOutcome,
        round_index: int,
        step: int,
        changed: bool | None,
        residual: float,
        terms: Tensor,
        stop_reason: str | None,
    ) -> RoundRecord:
        return RoundRecord(
            round=round_index,
            actions=outcome.policy.actions.tolist(),
            belief_norms=outcome.policy.belief_norms,
            answers=outcome.extracted,
            commitment=outcome.commitment.answer,
            commitment_json_ok=outcome.commitment.json_ok,
            commitment_fallback=outcome.commitment.fallback,
            residual=residual,
            groups=self.group_of if self.hierarchical else None,
            commitment_levels=outcome.levels,
            step=step,
            commitment_changed=changed,
            best_response_gap=outcome.policy.best_response_gap,
            reward_terms=terms.tolist(),
            stop_reason=stop_reason,
        )

    def _group(self, agent: int) -> int | None:
        return self.group_of[agent] if self.hierarchical else None

    async def _strategies(self, problem: Problem, accounting_id: str, calls: list[Call]) -> list[str]:
        """One strategy per group, written concurrently; the flat game's single one keeps its original seed."""
        s = self.settings
        keys = [(k,) for k in range(len(self.groups))] if self.hierarchical else [()]
        replies = await asyncio.gather(
            *(
                self._call(
                    prompts.strategy_messages(problem.question),
                    "coordinator",
                    accounting_id,
                    Sampling(
                        s.coordinator_temperature,
                        s.top_p,
                        0.0,
                        s.max_tokens_strategy,
                        call_seed(s.seed, problem.id, "strategy", *key),
                    ),
                    calls,
                    role="strategy",
                    round_index=0,
                    agent=None,
                    group=key[0] if key else None,
                )
                for key in keys
            )
        )
        return [reply.text.strip() for reply in replies]

    async def _commit(
        self,
        problem: Problem,
        strategies: list[str],
        texts: list[str],
        extracted: list[str | None],
        step_k: tuple[int, int],
        round_index: int,
        accounting_id: str,
        calls: list[Call],
    ) -> tuple[Commitment, list[list[str | None]] | None]:
        """The round's commitment: one coordinator over all answers (flat), or the group tree (hierarchical).

        Every commitment call, at every level of the tree, asks for the commitment schema when
        agents.structured_commitment is on.
        """
        s = self.settings
        schema = prompts.COMMITMENT_SCHEMA if s.structured_commitment else None

        def sampling(*parts: object) -> Sampling:
            return Sampling(
                s.coordinator_temperature,
                s.top_p,
                0.0,
                s.max_tokens_commitment,
                call_seed(s.seed, problem.id, *parts, *step_k),
            )

        if not self.hierarchical:
            reply = await self._call(
                prompts.commitment_messages(problem.question, strategies[0], texts),
                "coordinator",
                accounting_id,
                sampling("commitment"),
                calls,
                role="commitment",
                round_index=round_index,
                agent=None,
                json_schema=schema,
            )
            answer, justification, json_ok = prompts.parse_commitment(reply.text)
            if not json_ok:
                return Commitment(majority_answer(extracted, problem.dataset), justification, False, True), None
            return Commitment(answer, justification, True, False), None

        async def coordinator(messages, role: str, level: int, node: int) -> Completion:
            return await self._call(
                messages,
                "coordinator",
                accounting_id,
                sampling(role, level, node),
                calls,
                role=role,
                round_index=round_index,
                agent=None,
                group=node,
                level=level,
                json_schema=schema,
            )

        tree = await commit_tree(
            problem.question, problem.dataset, strategies, self.groups, texts, extracted, s.group_size, coordinator
        )
        return tree.root, tree.levels

    def _executor_prompt(self, question: str, strategy: str, own_text: str | None, commitment: str | None):
        if not self.settings.executors_see_commitment:
            return prompts.executor_messages(question, strategy)
        return prompts.executor_messages(question, strategy, own_text, commitment)

    async def _call(
        self,
        messages,
        usage_role: str,
        accounting_id: str,
        sampling: Sampling,
        calls: list[Call],
        role: str,
        round_index: int,
        agent: int | None,
        group: int | None = None,
        level: int | None = None,
        json_schema: dict | None = None,
        client: LLMClient | None = None,  # executor i's; None: the coordinator's
    ) -> Completion:
        client = client or self.team.coordinator
        reply = await client.complete(
            messages, sampling, role=usage_role, problem_id=accounting_id, sample_index=0, json_schema=json_schema
        )
        calls.append(
            Call(
                role,
                round_index,
                agent,
                messages,
                reply.text,
                reply.prompt_tokens,
                reply.completion_tokens,
                reply.cached,
                group,
                level,
                client.model_label,
            )
        )
        return reply


def _commitment_text(commitment: Commitment) -> str | None:
    """The commitment as executors read it in the next round: its answer and justification."""
    if commitment.answer is None:
        return None
    justification = commitment.justification.strip()
    return f"The answer is {commitment.answer}." + (f" {justification}" if justification else "")
