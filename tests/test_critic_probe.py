"""The critic probe: the policy's action, the critic's best response and which way the policy loss moves it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from econ.config.settings import NetworkSettings
from econ.devtools.runs import TINY_NETWORKS, write_untrained_checkpoint
from econ.errors import ConfigError
from econ.learner import probe as learner_probe
from econ.nn import Networks, Transition, TransitionBatch, collate
from econ.nn.observation import FLAGS, TEXT_FIELDS
from experiments import critic_probe

N, OBS_DIM = 3, 12
BEST_U = (0.8, 0.3)  # where the planted critic peaks, on the probe's 21-point grid
POLICY_U = (0.2, 0.5)  # where the planted action head stands


class PlantedCritic(nn.Module):
    """Q_i(b, u) = −(u_T − 0.8)² − (u_p − 0.3)², whatever the belief."""

    def forward(self, belief: Tensor, action: Tensor) -> Tensor:
        return -((action[..., 0] - BEST_U[0]) ** 2) - (action[..., 1] - BEST_U[1]) ** 2


def transitions(count: int, obs_dim: int, n: int) -> list[Transition]:
    generator = torch.Generator().manual_seed(1)
    return [
        Transition(
            obs=torch.randn(n, len(TEXT_FIELDS), obs_dim, generator=generator),
            flags=torch.zeros(n, len(FLAGS)),
            action=torch.rand(n, 2, generator=generator),
            reward_terms=torch.zeros(n, 3),
            commitment=torch.randn(obs_dim, generator=generator),
            team_correct=torch.tensor(0.0),
            next_obs=torch.zeros(n, len(TEXT_FIELDS), obs_dim),
            next_flags=torch.zeros(n, len(FLAGS)),
            done=torch.tensor(1.0),
        )
        for _ in range(count)
    ]


def planted_networks() -> Networks:
    torch.manual_seed(0)
    nets = Networks.build(NetworkSettings(N, belief_dim=16, entity_dim=32, n_blocks=1), OBS_DIM)
    nets.belief.critic = PlantedCritic()
    with torch.no_grad():
        nets.belief.action_head.weight.zero_()
        nets.belief.action_head.bias.copy_(torch.tensor([math.log(u / (1 - u)) for u in POLICY_U]))
    return nets.eval()


def test_the_probe_finds_the_critics_best_response_and_the_way_the_policy_loss_moves_the_action():
    batch: TransitionBatch = collate(transitions(4, OBS_DIM, N))
    result = learner_probe.probe(planted_networks(), batch, lambda_sd=0.1)
    t_low, t_span, p_low, p_span = 0.1, 1.9, 0.1, 0.8  # the default sampling bounds
    assert result.pairs == 4 * N
    assert result.policy_T == pytest.approx(t_low + t_span * POLICY_U[0], abs=1e-5)
    assert result.best_response_T == pytest.approx(t_low + t_span * BEST_U[0], abs=1e-5)
    assert result.best_response_p == pytest.approx(p_low + p_span * BEST_U[1], abs=1e-5)
    assert result.best_response_gap == pytest.approx(0.6**2 + 0.2**2, abs=1e-5)
    # −Q_tot through the monotonic mixer sends μ toward the critic's peak: T up, p down, everywhere
    assert result.dq_T > 0 and result.raises_T == 1.0 and result.dq_p < 0 and result.raises_p == 0.0
    peak_T = max(result.q_along_T, key=lambda point: point[1])[0]
    assert peak_T == pytest.approx(t_low + t_span * 0.75, abs=1e-5)  # the profile's point nearest 0.8
    assert result.buffer_T[2] >= t_low and result.buffer_T[3] <= t_low + t_span
    text = critic_probe.markdown(result)
    assert "| critic's best response (argmax Q_i over the grid), mean | 1.620 | 0.340 |" in text


def test_the_grid_scored_in_chunks_gives_the_episodes_best_response_gap(monkeypatch):
    torch.manual_seed(2)
    nets = Networks.build(NetworkSettings(N, belief_dim=16, entity_dim=32, n_blocks=1), OBS_DIM).eval()
    batch = collate(transitions(4, OBS_DIM, N))
    monkeypatch.setattr(learner_probe, "GRID_CHUNK", 5)  # 12 pairs: three chunks, the last one short
    result = learner_probe.probe(nets, batch, lambda_sd=0.1)
    with torch.no_grad():
        belief = nets.belief(batch.obs, batch.flags)
        gap = nets.belief.best_response_gap(belief, nets.belief.action_mean(belief))
    assert result.best_response_gap == pytest.approx(gap.mean().item(), abs=1e-6)
    assert not nets.training and all(p.grad is None for p in nets.parameters())


def test_a_checkpoint_is_probed_on_its_own_buffer_and_one_without_episodes_is_one_line(tmp_path):
    empty = write_untrained_checkpoint(tmp_path / "empty.ckpt", TINY_NETWORKS, obs_dim=OBS_DIM)
    with pytest.raises(ConfigError, match=r"^CKPT=.*empty.ckpt: its replay buffer is empty; probe a checkpoint"):
        critic_probe.probe_checkpoint(empty)
    checkpoint = torch.load(empty, weights_only=False)
    checkpoint["econ_state"]["buffer"] = [[t.to_dict() for t in transitions(3, OBS_DIM, 2)]]
    torch.save(checkpoint, tmp_path / "played.ckpt")
    result = critic_probe.probe_checkpoint(tmp_path / "played.ckpt")
    assert result.pairs == 3 * 2 and 0.1 <= result.policy_T <= 2.0 and result.best_response_gap >= 0


def test_a_file_that_is_no_checkpoint_or_of_another_format_is_one_line_naming_the_argument(tmp_path):
    threads = torch.get_num_threads()
    (tmp_path / "x.ckpt").write_text("not torch")
    with pytest.raises(ConfigError, match=r"^CKPT=.*x.ckpt: not a readable checkpoint"):
        critic_probe.main([str(tmp_path / "x.ckpt")])
    torch.save({"state_dict": {}}, tmp_path / "old.ckpt")
    with pytest.raises(ConfigError, match=r"^CKPT=.*old.ckpt: not a format-2 econ checkpoint"):
        critic_probe.main([str(tmp_path / "old.ckpt")])
    assert torch.get_num_threads() == threads  # the CLI's one thread does not outlive it
