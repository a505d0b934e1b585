"""BNE rounds: the fixed-point test, what each round records, and the transitions training stores."""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading

import pytest
import torch

from econ.config.settings import NetworkSettings
from econ.data.datasets import Problem
from econ.devtools.bandit import HashEmbedder
from econ.eval.report import summarize
from econ.game import prompts
from econ.game.episode import FIXED_POINT, MAX_ROUNDS, EpisodeRunner, GameSettings
from econ.game.policy import BeliefPolicy, FixedActionPolicy
from econ.llm.client import LLMClient
from econ.llm.openai_compatible import OpenAICompatibleBackend
from econ.nn import Networks, collate, econ_losses
from econ.nn.observation import FLAGS, TEXT_FIELDS

PROBLEM = Problem("t:1", "Tom has 3 apples and buys 4 more. How many apples does he have?", "7", "svamp")
N = 3


class ScriptedTeam:
    """Executors answer `answer`; the coordinator commits to the next answer of `commitments` (cycled)."""

    def __init__(self, commitments: list[str], answer: str = "7", reworded: bool = False, why: str = "reason {k}"):
        self.commitments = itertools.cycle(commitments)
        self.answer, self.reworded, self.why = answer, reworded, why
        self.count = itertools.count()
        self.lock = threading.Lock()

    def __call__(self, request: dict) -> str:
        last = request["messages"][-1]["content"]
        with self.lock:
            k = next(self.count)
            if "JSON" in last:
                return json.dumps({"answer": next(self.commitments), "justification": self.why.format(k=k)})
        if request["messages"][0]["content"] != prompts.EXECUTOR_SYSTEM:
            return "Add the quantities."
        wording = f"In my words number {k}" if self.reworded else "Adding them"
        return f"{wording}, the total is {self.answer}. \\boxed{{{self.answer}}}"


def settings(threshold: float = 0.01, max_rounds: int = 1) -> GameSettings:
    return GameSettings(
        n_agents=N,
        top_p=0.9,
        max_tokens_strategy=16,
        max_tokens_executor=32,
        max_tokens_commitment=32,
        coordinator_temperature=0.2,
        threshold=threshold,
        max_rounds=max_rounds,
        executors_see_commitment=True,
        seed=0,
    )


def fixed_policy() -> FixedActionPolicy:
    return FixedActionPolicy(0.7, 0.1, N, (0.1, 2.0), (0.1, 0.9))


def belief_policy(sigma: float = 0.0) -> BeliefPolicy:
    torch.manual_seed(0)
    nets = Networks.build(NetworkSettings(N, belief_dim=16, entity_dim=32, n_blocks=1), HashEmbedder().dim)
    return BeliefPolicy(nets.belief.eval(), sigma, torch.Generator().manual_seed(0))


async def play(server, policy, k_rounds: int = 3, **game):
    client = LLMClient(OpenAICompatibleBackend(model="loopback", base_url=server.base_url), max_retries=0)
    try:
        return await EpisodeRunner(client, HashEmbedder(), settings(**game)).play(PROBLEM, "econ", k_rounds, policy)
    finally:
        await client.aclose()


async def test_a_changed_commitment_never_counts_as_converged(loopback_factory):
    # the fixed action never moves (residual 0), but the committed answer flips every round
    result, _ = await play(loopback_factory(responder=ScriptedTeam(["51", "101"])), fixed_policy())
    assert [r.commitment for r in result.rounds] == ["51", "101", "51"]
    assert [r.commitment_changed for r in result.rounds] == [None, True, True]
    assert [r.residual for r in result.rounds] == [0.0, 0.0, 0.0]
    assert result.stop_reason == MAX_ROUNDS and not result.converged


async def test_a_real_fixed_point_stops_before_the_last_round(loopback_factory):
    result, _ = await play(loopback_factory(responder=ScriptedTeam(["7"])), fixed_policy(), k_rounds=5)
    assert result.rounds_used == 2
    assert result.rounds[-1].commitment_changed is False and result.rounds[-1].residual == 0.0
    assert result.stop_reason == FIXED_POINT and result.converged
    assert [r.stop_reason for r in result.rounds] == [None, FIXED_POINT]


async def test_moving_actions_are_no_fixed_point_even_when_the_commitment_holds(loopback_factory):
    # reworded answers change the observation, so an untrained policy's means move a little
    result, _ = await play(
        loopback_factory(responder=ScriptedTeam(["7"], reworded=True)), belief_policy(), threshold=1e-9
    )
    assert all(r.commitment_changed is False for r in result.rounds[1:])
    assert all(r.residual > 1e-9 for r in result.rounds[1:])
    assert result.stop_reason == MAX_ROUNDS and result.rounds_used == 3


async def test_the_residual_compares_policy_means_not_exploration_noise(loopback_factory):
    # identical texts every round: after round 1 the next round would observe what round 1 did
    result, transitions = await play(
        loopback_factory(responder=ScriptedTeam(["7"])), belief_policy(sigma=0.5), threshold=1e-6
    )
    assert result.rounds[1].residual == 0.0 and result.stop_reason == FIXED_POINT and result.rounds_used == 2
    assert result.rounds[0].residual > 1e-6  # round 0 saw no answers yet, round 1 did
    played = [t.action for t in transitions]
    assert not torch.equal(played[0], played[1])  # what was played did carry the noise


async def test_a_missing_commitment_is_never_a_fixed_point(loopback_factory):
    def no_answers(request: dict) -> str:
        asks_json = "JSON" in request["messages"][-1]["content"]
        executor = request["messages"][0]["content"] == prompts.EXECUTOR_SYSTEM
        return "I cannot tell." if asks_json or executor else "Add the quantities."

    result, _ = await play(loopback_factory(responder=no_answers), fixed_policy())
    assert all(r.commitment is None for r in result.rounds)  # no JSON answer, no executor answer to vote on
    assert result.stop_reason == MAX_ROUNDS and result.rounds_used == 3


async def test_converged_describes_the_last_decision_step_only(loopback_factory):
    # step 0 settles on 5 after two rounds; step 1 never settles
    team = ScriptedTeam(["5", "5", "6", "8", "9"])
    result, transitions = await play(loopback_factory(responder=team), fixed_policy(), max_rounds=2)
    assert [r.step for r in result.rounds] == [0, 0, 1, 1, 1]
    assert [r.stop_reason for r in result.rounds] == [None, FIXED_POINT, None, None, MAX_ROUNDS]
    assert result.rounds[2].commitment_changed is None  # the test starts afresh in every decision step
    assert result.stop_reason == MAX_ROUNDS and not result.converged
    # a round is scored alone; only the last round of a decision step that is not the last bootstraps
    assert [float(t.done) for t in transitions] == [1.0, 0.0, 1.0, 1.0, 1.0]


async def test_a_changed_commitment_moves_the_action_and_a_reworded_one_does_not(loopback_factory):
    async def second_round(commitment: str, why: str):
        _, transitions = await play(
            loopback_factory(responder=ScriptedTeam([commitment], why=why)), belief_policy(), k_rounds=2, threshold=1e-9
        )
        obs = transitions[1]
        with torch.no_grad():
            return obs.obs, belief_policy().belief.action_mean(belief_policy().belief(obs.obs[None], obs.flags[None]))

    obs, action = await second_round("51", "all three solvers add 20 and 31")
    reworded_obs, reworded_action = await second_round("51", "the sum of the two amounts is fifty-one")
    changed_obs, changed_action = await second_round("101", "all three solvers add 70 and 31")
    assert torch.equal(reworded_obs, obs) and torch.equal(reworded_action, action)
    assert not torch.equal(changed_obs, obs) and (changed_action - action).abs().max() > 0


async def test_every_round_played_is_a_transition_observing_the_round_before(loopback_factory):
    result, transitions = await play(loopback_factory(responder=ScriptedTeam(["7", "8", "9"])), belief_policy())
    assert len(transitions) == result.rounds_used == 3
    first, later = transitions[0], transitions[1:]
    assert (first.obs[:, 2:] == 0).all() and (first.flags == 0).all()  # round 0: no answers yet
    for transition in later:
        assert (transition.obs.abs().sum(-1) > 0).all()  # every field present
        assert (transition.flags[:, FLAGS.index("answered")] == 1).all()
    torch.testing.assert_close(transitions[0].next_obs, transitions[1].obs)
    assert [bool(t.team_correct) for t in transitions] == [True, False, False]  # each round's own commitment


async def test_rounds_record_each_agents_best_response_gap_from_its_critic(loopback_factory):
    result, _ = await play(
        loopback_factory(responder=ScriptedTeam(["7"], reworded=True)), belief_policy(), threshold=1e-9
    )
    for record in result.rounds:
        assert len(record.best_response_gap) == N and all(gap >= 0 for gap in record.best_response_gap)
        assert len(record.reward_terms) == N
    summary = summarize([result])
    assert summary["best_response_gap"] == pytest.approx(max(result.rounds[-1].best_response_gap))
    assert summary["stop_reasons"] == {FIXED_POINT: 0, MAX_ROUNDS: 1}


async def test_fixed_action_rounds_record_no_best_response_gap(loopback_factory):
    result, _ = await play(loopback_factory(responder=ScriptedTeam(["7"])), fixed_policy())
    assert all(record.best_response_gap is None for record in result.rounds)
    assert all(action == pytest.approx([0.7, 0.1]) for record in result.rounds for action in record.actions)
    assert summarize([result])["best_response_gap"] is None


async def test_an_update_from_a_real_episode_trains_every_observation_field(loopback_factory):
    torch.manual_seed(0)
    nets = Networks.build(NetworkSettings(N, belief_dim=16, entity_dim=32, n_blocks=1), HashEmbedder().dim)
    _, transitions = await play(
        loopback_factory(responder=ScriptedTeam(["7", "8", "9"])),
        BeliefPolicy(nets.belief.eval(), 0.1, torch.Generator().manual_seed(0)),
    )
    nets.train()
    econ_losses(nets, nets.make_target(), collate(transitions), torch.tensor([0.4, 0.4, 0.2]))["loss"].backward()
    kinds = nets.belief.field_embedding.weight.grad  # one row per text field, then the flags token
    assert kinds.shape[0] == len(TEXT_FIELDS) + 1
    assert (kinds.abs().sum(dim=1) > 0).all()
    assert nets.belief.flag_proj.weight.grad.abs().sum() > 0


class RewordingTeam:
    """Executors say 51 in new words every round; the coordinator commits to `commitments` in turn."""

    WORDINGS = [
        "We add 20 and 31 to get 51.",
        "Twenty plus thirty-one is 51.",
        "The total is 20 + 31 = 51.",
        "Combining both amounts gives 51.",
        "Summing the two numbers: 51.",
        "So altogether there are 51.",
    ]

    def __init__(self, commitments: list[str]):
        self.commitments = itertools.cycle(commitments)
        self.count = itertools.count()
        self.lock = threading.Lock()

    def __call__(self, request: dict) -> str:
        with self.lock:
            k = next(self.count)
            if "JSON" in request["messages"][-1]["content"]:
                return json.dumps({"answer": next(self.commitments), "justification": "the solvers' sum"})
        if request["messages"][0]["content"] != prompts.EXECUTOR_SYSTEM:
            return "Add the two amounts."
        return f"{self.WORDINGS[k % len(self.WORDINGS)]} \\boxed{{51}}"


async def test_at_the_shipped_threshold_rewording_is_a_fixed_point_and_a_flip_moves_the_policy_more(
    loopback_factory,
):
    from econ.devtools.runs import compose_config
    from econ.embed.local import LocalEmbedder
    from econ.nn.belief import BeliefNetwork

    cfg = compose_config([f"agents.n_agents={N}"], name="train")  # default sizes and bne.threshold
    embedder = LocalEmbedder()
    game = dataclasses.replace(settings(), threshold=cfg.bne.threshold)

    async def play_team(team):
        torch.manual_seed(0)
        policy = BeliefPolicy(BeliefNetwork.untrained(cfg.agents, N, embedder.dim))
        client = LLMClient(
            OpenAICompatibleBackend(model="loopback", base_url=loopback_factory(responder=team).base_url)
        )
        try:
            return (await EpisodeRunner(client, embedder, game).play(PROBLEM, "econ", 3, policy))[0]
        finally:
            await client.aclose()

    reworded = await play_team(RewordingTeam(["51"]))
    flipped = await play_team(RewordingTeam(["51", "101"]))
    assert reworded.stop_reason == FIXED_POINT and reworded.rounds_used == 2  # the untrained policy, early
    assert flipped.stop_reason == MAX_ROUNDS and flipped.rounds_used == 3
    assert flipped.rounds[1].residual > reworded.rounds[1].residual  # the changed commitment moves μ more
