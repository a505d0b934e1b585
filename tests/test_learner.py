"""The learner at its shipped sizes and settings: it learns, steps as configured, and checkpoints what it plays."""

from __future__ import annotations

import pytest
import torch

from econ.devtools.bandit import TemperatureBandit, difficulty, train_bandit
from econ.errors import ConfigError
from econ.learner import module as module_under_test
from econ.learner.checkpoint import check_compatible
from econ.learner.module import GROUPS
from econ.learner.probe import probe
from econ.nn import collate

SMALL = ("agents.belief_dim=16", "agents.entity_dim=32", "agents.n_blocks=1")


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what learner.torch_threads sets in a run
    yield
    torch.set_num_threads(threads)


def test_the_synthetic_problems_difficulty_is_their_own_in_every_round_and_p_stays_a_probability():
    first = "<problem>\nSynthetic problem 3 of seed 0.\n</problem>\n\nSolve the problem."
    later = "<problem>\nSynthetic problem 3 of seed 0.\n</problem>\n\nYour previous answer: 12"
    other = "<problem>\nSynthetic problem 4 of seed 0.\n</problem>\n\nSolve the problem."
    assert difficulty(first) == difficulty(later) != difficulty(other) and 0 <= difficulty(other) < 1
    game = TemperatureBandit((0.1, 2.0), p_max=0.9, slope=0.6, spread=0.8)
    assert game.p_correct(0.1, 0.0) == pytest.approx(0.9) and game.p_correct(2.0, 0.5) == 0.0
    assert game.p_correct(1.05, 0.25) == pytest.approx(0.9 - 0.2 - 0.3)
    assert TemperatureBandit((0.1, 2.0)).p_correct(1.05, 0.99) == pytest.approx(0.6)  # no spread: alike


def test_an_update_reports_the_critics_view_and_splits_its_move_into_the_policy_and_belief_steps():
    module = train_bandit(0, episodes=10, overrides=(*SMALL, "learner.updates_per_step=1")).module  # step 1
    stepped, held = module.update(), module.update()  # gradient steps 2 and 3: policy_delay 2 moves μ on the 2nd
    assert stepped["probe/dT_policy_step"] != 0 and held["probe/dT_policy_step"] == 0.0
    assert held["probe/dp_policy_step"] == 0.0 and held["probe/dT_belief_step"] != 0
    after = probe(module.nets, collate([t for episode in module.buffer for t in episode]), 0.1)
    moved = held["probe/policy_T"] + held["probe/dT_policy_step"] + held["probe/dT_belief_step"]
    assert after.policy_T == pytest.approx(moved, abs=0.02)  # the two steps, each from the start, add up
    for report in (stepped, held):
        assert 0.1 <= report["probe/policy_T"] <= 2.0 and 0.1 <= report["probe/best_response_T"] <= 2.0
        assert report["probe/best_response_gap"] >= 0 and 0 <= report["probe/raises_T"] <= 1


def test_the_probe_leaves_training_exactly_as_it_was(monkeypatch):
    overrides = (*SMALL, "learner.updates_per_step=2")
    probed = train_bandit(0, episodes=20, overrides=overrides).module
    monkeypatch.setattr(module_under_test, "probe", lambda *args: None)
    monkeypatch.setattr(module_under_test, "update_moves", lambda *args: None)
    monkeypatch.setattr(module_under_test, "update_metrics", lambda *args: {})
    unprobed = train_bandit(0, episodes=20, overrides=overrides).module
    assert probed.updates_done == unprobed.updates_done == 2
    for (name, a), b in zip(probed.state_dict().items(), unprobed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_an_update_takes_updates_per_step_critic_steps_and_delays_the_policy():
    outcome = train_bandit(0, episodes=20, overrides=(*SMALL, "learner.updates_per_step=4", "learner.policy_delay=2"))
    module = outcome.module
    assert module.updates_done == 2  # update_interval 10
    steps = [
        max(int(state["step"]) for state in optimiser.state.values())
        for optimiser in module.optimizers(use_pl_optimizer=False)
    ]
    by_group = dict(zip((*GROUPS, "alpha"), steps))
    assert by_group["policy"] == 2 * 2 and all(by_group[g] == 2 * 4 for g in ("belief", "encoder", "mixer", "alpha"))


def test_a_policy_delay_longer_than_an_update_still_steps_the_policy():
    module = train_bandit(
        0, episodes=30, overrides=(*SMALL, "learner.updates_per_step=1", "learner.policy_delay=2")
    ).module
    policy = module.optimizers(use_pl_optimizer=False)[GROUPS.index("policy")]
    assert module.updates_done == 3 and max(int(state["step"]) for state in policy.state.values()) == 1


def test_the_buffer_keeps_every_round_of_the_last_buffer_size_episodes():
    module = train_bandit(0, episodes=12, overrides=(*SMALL, "learner.buffer_size=5", "bne.threshold=1e-9")).module
    assert len(module.buffer) == 5
    assert all(len(episode) == 3 for episode in module.buffer)  # bne.max_iterations_train follows infer: 3


def test_a_checkpoint_of_the_previous_format_is_refused_in_one_line():
    module = train_bandit(0, episodes=1, overrides=SMALL).module
    checkpoint = {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    check_compatible(checkpoint, module.hparams["econ"]["agents"])
    del checkpoint["econ_state"]["format"]  # what econ wrote before format 2
    with pytest.raises(ConfigError, match="^ckpt_path: the checkpoint has format 1") as error:
        check_compatible(checkpoint, module.hparams["econ"]["agents"])
    assert "\n" not in str(error.value)


def test_at_the_shipped_settings_the_policy_follows_the_temperature_that_pays():
    """Correctness falls with T: training lowers T in every round; the control, where it rises, raises it."""
    assert train_bandit(0, episodes=200).moved(-1)  # 20 updates; the slow test below plays the full 700
    assert train_bandit(0, episodes=200, slope=-0.6).moved(+1)


@pytest.mark.slow
def test_at_the_shipped_settings_nine_of_ten_seeds_lower_a_temperature_that_hurts():
    assert sum(train_bandit(seed).moved(-1) for seed in range(10)) >= 9  # one SVAMP-train pass of episodes
