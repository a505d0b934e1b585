import pytest
import torch

from econ.errors import ConfigError
from econ.nn import BeliefEncoder


@pytest.mark.parametrize("n_agents", [1, 3, 8])
def test_belief_encoder_gives_one_group_vector_for_any_n_agents(n_agents):
    encoder = BeliefEncoder(16, n_heads=4)
    group = encoder(torch.randn(5, n_agents, 16))
    assert group.shape == (5, 16)
    assert torch.isfinite(group).all()


def test_group_representation_ignores_agent_order():
    encoder = BeliefEncoder(16, n_heads=4).eval()
    beliefs = torch.randn(2, 5, 16)
    shuffled = beliefs[:, torch.randperm(5)]
    torch.testing.assert_close(encoder(beliefs), encoder(shuffled))


def test_belief_dim_not_divisible_by_heads_is_a_config_error():
    with pytest.raises(ConfigError, match="belief_dim=10"):
        BeliefEncoder(10, n_heads=4)
