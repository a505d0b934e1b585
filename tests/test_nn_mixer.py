import pytest
import torch

from econ.nn import Mixer

BELIEF_DIM, COMMIT_DIM = 16, 12


@pytest.fixture
def mixer() -> Mixer:
    torch.manual_seed(0)
    return Mixer(BELIEF_DIM, COMMIT_DIM, hidden_dim=32, feature_dim=16, n_heads=4)


@pytest.mark.parametrize("n_agents", [1, 3, 8])
def test_mixer_is_monotonic_in_every_q_i(mixer, n_agents):
    q = (3 * torch.randn(64, n_agents)).requires_grad_()
    q_tot = mixer.q_tot(q, torch.randn(64, BELIEF_DIM), torch.randn(64, n_agents, BELIEF_DIM))
    (grad,) = torch.autograd.grad(q_tot.sum(), q)
    assert (grad >= 0).all()
    assert (grad > 0).any()


@pytest.mark.parametrize("n_agents", [1, 3, 8])
def test_one_mixer_handles_any_n_agents(mixer, n_agents):
    q_tot = mixer(torch.randn(5, n_agents), torch.randn(5, BELIEF_DIM), torch.randn(5, n_agents, BELIEF_DIM))
    features = mixer.features(torch.rand(5, n_agents, 2))
    assert q_tot.shape == (5,)
    assert features.shape == (5, n_agents, 16)
    assert mixer.project_commitment(torch.randn(5, COMMIT_DIM)).shape == (5, 16)
