import pytest
import torch

from econ.nn import BeliefNetwork, explore
from econ.nn.observation import FLAGS, TEXT_FIELDS

OBS_DIM, N_FIELDS = 12, len(TEXT_FIELDS)


def flags(batch: int, n_agents: int) -> torch.Tensor:
    return torch.ones(batch, n_agents, len(FLAGS))


def small_belief(n_agents: int, **kwargs) -> BeliefNetwork:
    return BeliefNetwork(n_agents, OBS_DIM, N_FIELDS, belief_dim=16, entity_dim=32, n_blocks=1, **kwargs)


@pytest.mark.parametrize("n_agents", [1, 3, 8])
def test_belief_network_shapes_for_any_n_agents(n_agents):
    net = small_belief(n_agents)
    obs = torch.randn(5, n_agents, N_FIELDS, OBS_DIM)
    belief = net(obs, flags(5, n_agents))
    u = net.action_mean(belief)
    assert belief.shape == (5, n_agents, 16)
    assert u.shape == (5, n_agents, 2)
    assert net.scale_action(u).shape == (5, n_agents, 2)
    assert net.q_value(belief, u).shape == (5, n_agents)


def test_empty_observation_fields_are_accepted():
    net = small_belief(3)
    obs = torch.randn(2, 3, N_FIELDS, OBS_DIM)
    obs[:, :, 2:] = 0.0  # round 0: no own answer, no commitment yet, no flags
    assert torch.isfinite(net(obs, torch.zeros(2, 3, len(FLAGS)))).all()


def test_scaled_actions_stay_within_bounds_even_after_exploration_noise():
    net = small_belief(3, t_bounds=(0.1, 2.0), p_bounds=(0.1, 0.9))
    with torch.no_grad():
        net.action_head.weight.mul_(100.0)  # push μ into the sigmoid's saturated ends
    belief = net(torch.randn(64, 3, N_FIELDS, OBS_DIM), flags(64, 3)) * 10
    generator = torch.Generator().manual_seed(0)
    for u in (net.action_mean(belief), explore(net.action_mean(belief), sigma=2.0, generator=generator)):
        action = net.scale_action(u)
        assert ((u >= 0) & (u <= 1)).all()
        assert ((action[..., 0] >= 0.1) & (action[..., 0] <= 2.0)).all()
        assert ((action[..., 1] >= 0.1) & (action[..., 1] <= 0.9)).all()


def test_scale_action_maps_unit_box_corners_to_bounds():
    net = small_belief(1, t_bounds=(0.1, 2.0), p_bounds=(0.2, 0.9))
    corners = net.scale_action(torch.tensor([[[0.0, 0.0], [1.0, 1.0]]]))
    torch.testing.assert_close(corners, torch.tensor([[[0.1, 0.2], [2.0, 0.9]]]))


def test_exploration_noise_is_reproducible_with_a_generator_and_off_at_zero_sigma():
    u = torch.full((4, 3, 2), 0.5)
    first = explore(u, 0.3, torch.Generator().manual_seed(1))
    second = explore(u, 0.3, torch.Generator().manual_seed(1))
    torch.testing.assert_close(first, second)
    assert not torch.equal(first, u)
    assert torch.equal(explore(u, 0.0), u)


def test_belief_network_rejects_observations_for_another_agent_count():
    with pytest.raises(ValueError, match="n_agents=3"):
        small_belief(3)(torch.randn(2, 5, N_FIELDS, OBS_DIM), flags(2, 5))


def test_loading_weights_built_for_another_agent_count_fails():
    with pytest.raises(RuntimeError, match="agent_embedding"):
        small_belief(5).load_state_dict(small_belief(3).state_dict())


def test_untrained_network_takes_its_sizes_and_bounds_from_the_agents_config():
    from omegaconf import OmegaConf

    agents = OmegaConf.create(
        {
            "belief_dim": 24,
            "entity_dim": 32,
            "n_heads": 2,
            "n_blocks": 1,
            "dropout": 0.1,
            "temperature_bounds": [0.3, 1.5],
            "penalty_bounds": [0.2, 0.8],
        }
    )
    network = BeliefNetwork.untrained(agents, 5, 16)
    beliefs = network(torch.randn(1, 5, N_FIELDS, 16), flags(1, 5))
    assert beliefs.shape == (1, 5, 24) and not network.training
    corners = network.scale_action(torch.tensor([[[0.0, 0.0], [1.0, 1.0]]]))[0]
    assert torch.allclose(corners, torch.tensor([[0.3, 0.2], [1.5, 0.8]]))


def test_learned_token_embeddings_start_on_the_scale_of_the_projected_text():
    net = BeliefNetwork(3, 384)  # default sizes, MiniLM's dimension
    text = torch.nn.functional.normalize(torch.randn(64, 384), dim=-1)  # unit-norm embeddings, like MiniLM's
    projected = net.field_proj(text).norm(dim=-1).mean()
    for embedding in (net.field_embedding, net.agent_embedding):
        assert embedding.weight.norm(dim=-1).mean() < projected  # N(0, 1) gave norm ≈ 16 against ≈ 0.6


def test_round0_actions_at_init_vary_across_real_svamp_questions():
    import re

    from econ.data.datasets import load_splits
    from econ.devtools.runs import compose_config
    from econ.embed.local import LocalEmbedder
    from econ.nn.observation import Observation

    cfg = compose_config(["+experiment=svamp", "model=local"], name="train")
    questions = [p.question for p in load_splits(cfg.dataset, cfg.seed).test[:40]]
    embedder = LocalEmbedder()
    # a per-problem strategy, as the coordinator writes one for every problem: here, the question's own ask
    strategies = ["Find the answer to: " + re.split(r"(?<=[.?!])\s+", q.strip())[-1] for q in questions]
    q_emb, s_emb = embedder.encode(questions), embedder.encode(strategies)
    torch.manual_seed(0)
    net = BeliefNetwork.untrained(cfg.agents, 3, embedder.dim)  # default sizes
    with torch.no_grad():
        u = torch.stack(
            [
                net.action_mean(net(o.fields[None], o.flags[None]))[0]
                for o in (Observation.first_round(q_emb[i], s_emb[i].expand(3, -1)) for i in range(len(questions)))
            ]
        )
    assert (u.std(dim=0) >= 0.02).all(), u.std(dim=0)  # (N, 2): per agent, T and p; was ≈ 0.001


def test_best_response_gap_is_zero_at_the_critics_best_grid_action_and_positive_elsewhere():
    net = small_belief(2)
    belief = torch.randn(1, 2, 16)
    axis = torch.linspace(0, 1, 21)
    grid = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        q = net.q_value(belief.unsqueeze(2).expand(1, 2, len(grid), 16), grid.expand(1, 2, len(grid), 2))
        best = grid[q.argmax(dim=-1)]  # (1, 2, 2)
        worst = grid[q.argmin(dim=-1)]
        for chunk in (None, 1):  # both beliefs' grids at once, or one belief at a time
            found, found_q = net.best_response(belief, chunk=chunk)
            torch.testing.assert_close(found, best)
            torch.testing.assert_close(found_q, q.max(dim=-1).values)
        assert torch.allclose(net.best_response_gap(belief, best), torch.zeros(1, 2), atol=1e-6)
        gap = net.best_response_gap(belief, worst)
    assert (gap > 0).all()
    torch.testing.assert_close(gap, q.max(dim=-1).values - q.min(dim=-1).values)
