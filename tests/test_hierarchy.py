"""Hierarchical coordination: groups, the commitment tree, bounded prompts, hierarchical networks, checkpoints."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from econ.config.resolvers import register_resolvers
from econ.config.settings import NetworkSettings, load_settings
from econ.data.datasets import Problem
from econ.devtools.loopback import LoopbackServer, word_count
from econ.embed import CachedEmbedder
from econ.embed.local import LocalEmbedder
from econ.errors import ConfigError
from econ.game.episode import EpisodeRunner, GameSettings
from econ.game.policy import BeliefPolicy
from econ.game.records import EpisodeResult
from econ.game.tree import worst_case_prompts
from econ.learner.checkpoint import load_checkpoint
from econ.learner.module import ECONModule
from econ.llm.client import LLMClient
from econ.llm.openai_compatible import OpenAICompatibleBackend
from econ.nn import BeliefEncoder, BeliefNetwork, Mixer, Networks, TransitionBatch, econ_losses
from econ.nn.groups import commitment_levels, merge_fan_in, partition
from econ.nn.hierarchical import HierarchicalBeliefEncoder, HierarchicalMixer, per_group

CONF = Path(__file__).resolve().parents[1] / "conf"
PROBLEM = Problem("svamp:h-1", "Tom has 3 boxes with 7 apples each. How many apples does he have?", "21", "svamp")
ANSWER_WORDS = 120
GROUP = 4


def _config(*overrides: str):
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=False)


# ---- partition and tree ---------------------------------------------------------------------


@pytest.mark.parametrize(("n", "g"), [(1, 4), (8, 4), (10, 4), (7, 1), (64, 4), (5, 5), (5, 9), (5, None)])
def test_group_partition_covers_every_agent_once(n, g):
    groups = partition(n, g)
    assert sorted(i for members in groups for i in members) == list(range(n))
    assert all(1 <= len(members) <= (g or n) for members in groups)
    assert len(groups) == (1 if g is None or g >= n else -(-n // g))
    assert all(members == list(range(members[0], members[-1] + 1)) for members in groups)  # contiguous


@pytest.mark.parametrize(("n", "g"), [(8, 4), (64, 4), (64, 2), (7, 1), (100, 3), (4, 4)])
def test_commitment_tree_shrinks_to_one_global_node_with_bounded_fan_in(n, g):
    levels = commitment_levels(n, g)
    assert levels[0] == len(partition(n, g)) and levels[-1] == 1
    for below, above in zip(levels, levels[1:]):
        assert above == -(-below // merge_fan_in(g)) and above < below


# ---- networks -------------------------------------------------------------------------------


def test_per_group_batches_exactly_like_a_loop_over_groups():
    x, shared = torch.randn(3, 10, 5), torch.randn(3, 5)
    fn = lambda piece, s: piece.sum(dim=1) * s  # noqa: E731
    expected = torch.stack([fn(x[:, members], shared) for members in partition(10, 4)], dim=1)
    torch.testing.assert_close(per_group(fn, 4, (x,), (shared,)), expected)


@pytest.mark.parametrize(("n", "g"), [(8, 4), (13, 4), (6, 1), (64, 4)])
def test_hierarchical_mixer_is_monotonic_in_every_q_i(n, g):
    torch.manual_seed(0)
    mixer = HierarchicalMixer(16, 12, g, hidden_dim=32, feature_dim=16)
    q = (3 * torch.randn(32, n)).requires_grad_()
    q_tot = mixer(q, torch.randn(32, 16), torch.randn(32, n, 16))
    (grad,) = torch.autograd.grad(q_tot.sum(), q)
    assert q_tot.shape == (32,)
    assert (grad >= 0).all() and (grad > 0).any()


def test_hierarchical_encoder_sees_groups_not_agent_order():
    torch.manual_seed(0)
    encoder = HierarchicalBeliefEncoder(16, GROUP).eval()
    beliefs = torch.randn(2, 8, 16)
    within = beliefs[:, [1, 0, 3, 2, 4, 5, 7, 6]]  # agents reordered inside their groups
    across = beliefs[:, [4, 5, 6, 7, 0, 1, 2, 3]]  # the two groups swapped
    mixed = beliefs[:, [0, 4, 1, 5, 2, 6, 3, 7]]  # agents moved between groups
    torch.testing.assert_close(encoder(within), encoder(beliefs))
    torch.testing.assert_close(encoder(across), encoder(beliefs))
    assert not torch.allclose(encoder(mixed), encoder(beliefs))


def test_networks_are_flat_unless_groups_split_the_agents():
    flat = Networks.build(NetworkSettings(8, belief_dim=16, entity_dim=32, n_blocks=1, group_size=8), 12)
    grouped = Networks.build(NetworkSettings(8, belief_dim=16, entity_dim=32, n_blocks=1, group_size=GROUP), 12)
    assert type(flat.encoder) is BeliefEncoder and type(flat.mixer) is Mixer
    assert isinstance(grouped.encoder, HierarchicalBeliefEncoder) and isinstance(grouped.mixer, HierarchicalMixer)


def test_econ_losses_train_every_group_through_the_hierarchy():
    torch.manual_seed(0)
    n, obs_dim, batch = 10, 12, 6
    nets = Networks.build(
        NetworkSettings(
            n, belief_dim=16, entity_dim=32, n_blocks=1, mixer_hidden_dim=16, feature_dim=16, group_size=GROUP
        ),
        obs_dim,
    )
    data = TransitionBatch(
        obs=torch.randn(batch, n, 5, obs_dim),
        flags=torch.ones(batch, n, 3),
        action=torch.rand(batch, n, 2),
        reward_terms=torch.rand(batch, n, 3),
        commitment=torch.randn(batch, obs_dim),
        team_correct=(torch.rand(batch) < 0.5).float(),
        next_obs=torch.randn(batch, n, 5, obs_dim),
        next_flags=torch.ones(batch, n, 3),
        done=torch.zeros(batch),
    )
    losses = econ_losses(nets, nets.make_target(), data, torch.tensor([0.4, 0.4, 0.2]))
    losses["loss"].backward()
    for name in ("encoder", "mixer", "policy"):
        assert all(p.grad is not None for p in nets.parameter_groups()[name]), name
    assert nets.encoder.across.attention.in_proj_weight.grad.abs().sum() > 0
    assert nets.mixer.across.hyper_w1[0].weight.grad.abs().sum() > 0


# ---- checkpoints ----------------------------------------------------------------------------


def _settings(*overrides: str):
    return load_settings(_config("agents.belief_dim=16", "agents.entity_dim=32", "agents.n_blocks=1", *overrides))


def _module(*overrides: str) -> ECONModule:
    return ECONModule(_settings(*overrides), obs_dim=12)


def _checkpoint(module: ECONModule, path) -> dict:
    checkpoint = {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return checkpoint


def test_checkpoint_from_eight_agents_is_refused_for_sixteen(tmp_path):
    _checkpoint(_module("agents.n_agents=8", f"agents.group_size={GROUP}"), tmp_path / "last.ckpt")
    with pytest.raises(ConfigError, match=r"agents.n_agents=16: the checkpoint was trained with agents.n_agents=8"):
        load_checkpoint(tmp_path / "last.ckpt", _settings("agents.n_agents=16", f"agents.group_size={GROUP}"))


def test_checkpoint_with_other_group_size_is_refused(tmp_path):
    _checkpoint(_module("agents.n_agents=8", f"agents.group_size={GROUP}"), tmp_path / "last.ckpt")
    with pytest.raises(
        ConfigError, match=r"agents.group_size=null: the checkpoint was trained with agents.group_size=4"
    ):
        load_checkpoint(tmp_path / "last.ckpt", _settings("agents.n_agents=8", "agents.group_size=null"))


def test_group_size_covering_all_agents_loads_a_flat_checkpoint(tmp_path):
    saved = _checkpoint(_module("agents.n_agents=3"), tmp_path / "last.ckpt")  # group_size null
    settings = _settings("agents.n_agents=3", "agents.group_size=8")  # g >= N: the same flat networks
    module = ECONModule(settings, obs_dim=12)
    module.restore(load_checkpoint(tmp_path / "last.ckpt", settings))
    torch.testing.assert_close(module.state_dict(), saved["state_dict"])


# ---- the game against a loopback server -----------------------------------------------------


def long_responder(request: dict) -> str:
    """A strategy, a ~120-word solution ending in one of three boxed values, or a JSON commitment."""
    last = str((request.get("messages") or [{}])[-1].get("content", ""))
    value = 20 + int(hashlib.sha256(str(request.get("seed")).encode()).hexdigest(), 16) % 3
    if "json" in last.lower():
        return json.dumps({"answer": str(value), "justification": "Most solvers reached this value."})
    if "write a short strategy" in last.lower():
        return "Multiply the number of boxes by the apples in each box."
    return " ".join(["step"] * ANSWER_WORDS) + f" so the total is \\boxed{{{value}}}"


@pytest.fixture(scope="module")
def embedder():
    return CachedEmbedder(LocalEmbedder())


def play_all(server, embedder, sizes: list[int], group_size: int | None, rounds: int = 2) -> dict[int, dict]:
    """Play PROBLEM once per N; per N: the result and the prompt tokens of every LLM call the server saw."""
    cfg = _config("agents.belief_dim=16", "agents.entity_dim=32", "agents.n_blocks=1", "bne.threshold=0.0")
    out = {}
    loop = asyncio.new_event_loop()
    # 16 in flight: the loopback server's listen backlog drops connections in larger bursts
    client = LLMClient(
        OpenAICompatibleBackend(model="loopback", base_url=server.base_url), cache=None, max_concurrency=16
    )
    try:
        for n in sizes:
            torch.manual_seed(0)
            belief = BeliefNetwork(n, embedder.dim, belief_dim=16, entity_dim=32, n_blocks=1, dropout=0.0).eval()
            settings = dataclasses.replace(GameSettings.from_config(cfg), n_agents=n, group_size=group_size)
            result, _ = loop.run_until_complete(
                EpisodeRunner(client, embedder, settings).play(PROBLEM, f"h{n}", rounds, BeliefPolicy(belief))
            )
            out[n] = {"result": result, "prompts": [call.prompt_tokens for call in result.calls]}
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    return out


def prompt_bound(group_size: int) -> int:
    """f(g, L) in loopback tokens (words): the longest prompt any call can get with items at their max_tokens."""
    agents = _config().agents
    longest = worst_case_prompts(
        PROBLEM.question,
        group_size,
        agents.max_tokens_strategy,
        agents.max_tokens_executor,
        agents.max_tokens_commitment,
    )
    return max(word_count(" ".join(m["content"] for m in messages)) for messages in longest)


@pytest.fixture(scope="module")
def hierarchical_runs(embedder):
    with LoopbackServer(responder=long_responder) as server:
        return play_all(server, embedder, [8, 16, 32, 64], GROUP)


def test_prompt_length_stays_bounded_as_n_grows(hierarchical_runs):
    longest = {n: max(run["prompts"]) for n, run in hierarchical_runs.items()}
    assert len(set(longest.values())) == 1, longest  # the same longest prompt at N = 8 and N = 64
    assert longest[64] <= prompt_bound(GROUP)


def test_total_tokens_grow_linearly_with_n(hierarchical_runs):
    per_agent = {
        n: (run["result"].prompt_tokens + run["result"].completion_tokens) / n for n, run in hierarchical_runs.items()
    }
    assert max(per_agent.values()) / min(per_agent.values()) < 1.25, per_agent


def test_flat_commitment_prompt_outgrows_the_bound(loopback_factory, embedder):
    flat = play_all(loopback_factory(responder=long_responder), embedder, [16], None, rounds=1)
    assert max(flat[16]["prompts"]) > prompt_bound(GROUP)


def test_global_coordinator_reads_only_local_commitments(hierarchical_runs):
    result = hierarchical_runs[64]["result"]
    roots = [call for call in result.calls if call.role == "commitment"]
    assert len(roots) == result.rounds_used == 2
    for call in roots + [c for c in result.calls if c.role == "merge_commitment"]:
        text = call.messages[-1]["content"]
        assert "step step" not in text and text.count("Group ") <= merge_fan_in(GROUP)
    calls_per_round = {
        role: sum(c.role == role and c.round == 0 for c in result.calls)
        for role in ("executor", "local_commitment", "merge_commitment", "commitment")
    }
    assert calls_per_round == {"executor": 64, "local_commitment": 16, "merge_commitment": 4, "commitment": 1}
    assert sum(c.role == "strategy" for c in result.calls) == 16


def test_traces_record_each_executors_group_and_the_local_commitments(hierarchical_runs):
    result = hierarchical_runs[16]["result"]
    record = result.rounds[0]
    assert record.groups == [i // GROUP for i in range(16)]
    assert [len(level) for level in record.commitment_levels] == [4, 1]
    assert record.commitment_levels[-1] == [record.commitment]
    executors = [c for c in result.calls if c.role == "executor"]
    assert all(c.group == c.agent // GROUP for c in executors)
    reloaded = EpisodeResult.from_json(json.loads(json.dumps(result.to_json())))
    assert reloaded.rounds[0].commitment_levels == record.commitment_levels


def test_old_traces_without_hierarchy_fields_still_load(hierarchical_runs):
    data = hierarchical_runs[8]["result"].to_json()
    for record in data["rounds"]:
        del record["groups"], record["commitment_levels"]
    for call in data["calls"]:
        del call["group"], call["level"]
    result = EpisodeResult.from_json(data)
    assert result.rounds[0].groups is None and result.calls[0].level is None


def test_group_size_covering_all_agents_plays_the_flat_game(loopback_factory, embedder):
    flat_server, covering_server = (
        loopback_factory(responder=long_responder),
        loopback_factory(responder=long_responder),
    )
    flat = play_all(flat_server, embedder, [6], None)
    covering = play_all(covering_server, embedder, [6], 6)
    strip = lambda requests: sorted(json.dumps(r, sort_keys=True) for r in requests)  # noqa: E731
    assert strip(flat_server.chat_requests()) == strip(covering_server.chat_requests())
    assert flat[6]["result"].rounds[0].groups is None and covering[6]["result"].rounds[0].groups is None
