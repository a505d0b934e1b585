import pytest
import torch

from econ.config.settings import NetworkSettings
from econ.nn import (
    Lambdas,
    Networks,
    TransitionBatch,
    econ_losses,
    encoder_loss,
    mixer_loss,
    mixing_consistency_loss,
    policy_loss,
    similarity_diff_loss,
    td_loss_local,
    td_loss_tot,
)
from econ.nn.observation import FLAGS, TEXT_FIELDS

N_AGENTS, OBS_DIM, BATCH = 3, 12, 6
N_FIELDS, N_FLAGS = len(TEXT_FIELDS), len(FLAGS)
ALPHA = torch.tensor([0.4, 0.4, 0.2])


def small_networks() -> Networks:
    torch.manual_seed(0)
    return Networks.build(
        NetworkSettings(N_AGENTS, belief_dim=16, entity_dim=32, n_blocks=1, mixer_hidden_dim=16, feature_dim=16),
        OBS_DIM,
    )


def random_batch(done: float = 0.0) -> TransitionBatch:
    return TransitionBatch(
        obs=torch.randn(BATCH, N_AGENTS, N_FIELDS, OBS_DIM),
        flags=(torch.rand(BATCH, N_AGENTS, N_FLAGS) < 0.5).float(),
        action=torch.rand(BATCH, N_AGENTS, 2),
        reward_terms=torch.rand(BATCH, N_AGENTS, 3),
        commitment=torch.randn(BATCH, OBS_DIM),
        team_correct=(torch.rand(BATCH) < 0.5).float(),
        next_obs=torch.randn(BATCH, N_AGENTS, N_FIELDS, OBS_DIM),
        next_flags=(torch.rand(BATCH, N_AGENTS, N_FLAGS) < 0.5).float(),
        done=torch.full((BATCH,), done),
    )


def test_td_losses_vanish_when_q_equals_its_target():
    q, q_i = torch.randn(8), torch.randn(8, 3)
    assert td_loss_tot(q, q) == 0 and td_loss_local(q_i, q_i) == 0
    assert td_loss_tot(q, q + 1) > 0 and td_loss_local(q_i, q_i + 1) > 0


def test_td_loss_local_sums_over_agents_and_averages_over_batch():
    assert td_loss_local(torch.zeros(4, 3), torch.ones(4, 3)) == pytest.approx(3.0)


def test_similarity_diff_loss_vanishes_when_features_are_parallel_to_the_commitment():
    c = torch.randn(8, 16)
    parallel = c.unsqueeze(1) * torch.rand(8, 3, 1).add(0.1)  # (B, N, D), positive multiples of c
    assert similarity_diff_loss(parallel, c) == pytest.approx(0.0, abs=1e-6)
    assert similarity_diff_loss(-parallel, c) == pytest.approx(3 * 4.0)  # cos = −1 for each of 3 agents
    assert similarity_diff_loss(torch.randn(8, 3, 16), c) > 0


def test_mixing_consistency_loss_vanishes_when_every_q_i_equals_q_tot():
    q_tot = torch.randn(8)
    assert mixing_consistency_loss(q_tot.unsqueeze(1).expand(8, 3), q_tot) == 0
    assert mixing_consistency_loss(torch.randn(8, 3), q_tot) > 0


def test_combined_losses_add_their_weighted_terms():
    one, two, three = torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0)
    assert mixer_loss(one, two, three, lambda_sd=0.1, lambda_m=0.5) == pytest.approx(1 + 0.2 + 1.5)
    assert encoder_loss(one, two, lambda_e=0.1) == pytest.approx(1.2)
    assert policy_loss(torch.tensor([1.0, 3.0]), two, lambda_sd=0.1) == pytest.approx(-2.0 + 0.2)


def test_econ_losses_returns_every_named_finite_loss():
    nets = small_networks()
    losses = econ_losses(nets, nets.make_target(), random_batch(), ALPHA, 0.99, Lambdas())
    for name in (
        "td_loss_tot",
        "td_loss_local",
        "similarity_diff_loss",
        "mixing_consistency_loss",
        "mixer_loss",
        "encoder_loss",
        "policy_loss",
        "q_tot_mean",
        "total_critic_loss",
        "loss",
    ):
        assert losses[name].shape == () and torch.isfinite(losses[name])


def test_terminal_targets_are_the_rewards():
    nets = small_networks()
    batch = random_batch(done=1.0)
    losses = econ_losses(nets, nets.make_target(), batch, ALPHA)
    team_reward = (batch.reward_terms @ ALPHA).mean()
    torch.testing.assert_close(losses["target_tot_mean"], team_reward)


def test_non_terminal_targets_bootstrap_from_the_target_networks():
    nets = small_networks()
    target = nets.make_target()
    batch = random_batch(done=0.0)
    losses = econ_losses(nets, target, batch, ALPHA, gamma=0.5)
    with torch.no_grad():
        next_belief = target.belief(batch.next_obs, batch.next_flags)
        next_q = target.belief.q_value(next_belief, target.belief.action_mean(next_belief))
        next_q_tot = target.mixer(next_q, target.encoder(next_belief), next_belief)
    expected = (batch.reward_terms @ ALPHA).mean(dim=1) + 0.5 * next_q_tot
    torch.testing.assert_close(losses["target_tot_mean"], expected.mean())


GROUPS_MOVED_BY = {
    "mixer_loss": {"mixer"},
    "encoder_loss": {"belief", "encoder"},
    "total_critic_loss": {"belief", "encoder", "mixer"},
    "policy_loss": {"policy"},
    "loss": {"belief", "policy", "encoder", "mixer"},
}


@pytest.mark.parametrize("loss_name", GROUPS_MOVED_BY)
def test_each_loss_reaches_exactly_the_parameter_groups_it_updates(loss_name):
    nets = small_networks()
    losses = econ_losses(nets, nets.make_target(), random_batch(), ALPHA)
    losses[loss_name].backward()
    for group, params in nets.parameter_groups().items():
        reached = [p.grad is not None and p.grad.abs().sum() > 0 for p in params]
        if group in GROUPS_MOVED_BY[loss_name]:
            assert all(reached), f"{loss_name} misses part of {group}"
        else:
            assert not any(reached), f"{loss_name} leaks into {group}"


def test_parameter_groups_partition_the_networks():
    nets = small_networks()
    grouped = [id(p) for params in nets.parameter_groups().values() for p in params]
    assert len(grouped) == len(set(grouped)) == len(list(nets.parameters()))


def test_a_policy_step_leaves_the_critic_unchanged():
    nets = small_networks()
    before = {name: p.detach().clone() for name, p in nets.named_parameters()}
    optimisers = {group: torch.optim.Adam(params, lr=1e-2) for group, params in nets.parameter_groups().items()}
    econ_losses(nets, nets.make_target(), random_batch(), ALPHA)["policy_loss"].backward()
    for optimiser in optimisers.values():
        optimiser.step()
    policy = {id(p) for p in nets.parameter_groups()["policy"]}
    for name, p in nets.named_parameters():
        assert torch.equal(p, before[name]) != (id(p) in policy), name


def test_target_networks_get_no_gradients_and_stay_in_eval_mode():
    nets = small_networks()
    target = nets.make_target()
    holder = torch.nn.ModuleDict({"online": nets, "target": target}).train()  # as a LightningModule would
    econ_losses(nets, target, random_batch(), ALPHA)["loss"].backward()
    assert all(not p.requires_grad and p.grad is None for p in target.parameters())
    assert holder["online"].training and not any(m.training for m in target.modules())


def test_soft_update_moves_targets_toward_online_weights():
    nets = small_networks()
    target = nets.make_target()
    with torch.no_grad():
        for p in nets.parameters():
            p.add_(1.0)

    def distance() -> float:
        return sum((p - q).abs().sum().item() for p, q in zip(nets.parameters(), target.parameters()))

    start = distance()
    nets.soft_update(target, tau=0.25)
    assert distance() == pytest.approx(0.75 * start, rel=1e-4)
    nets.soft_update(target, tau=1.0)
    assert distance() == 0


def test_the_similarity_difference_weight_changes_the_policy_gradient():
    def policy_gradient(lambda_sd: float) -> torch.Tensor:
        nets = small_networks()
        torch.manual_seed(1)
        batch = random_batch()
        econ_losses(nets, nets.make_target(), batch, ALPHA, lambdas=Lambdas(sd=lambda_sd))["loss"].backward()
        return torch.cat([p.grad.flatten() for p in nets.parameter_groups()["policy"]])

    # computed from the live actions μ(b), L_sd reaches the policy head (from stored actions it reached nothing)
    assert not torch.allclose(policy_gradient(0.0), policy_gradient(0.5))


def test_the_critic_reads_the_action_through_its_own_pathway():
    nets = small_networks()
    belief = torch.randn(4, N_AGENTS, 16)
    low, high = torch.zeros(4, N_AGENTS, 2), torch.ones(4, N_AGENTS, 2)
    with torch.no_grad():
        spread = (nets.belief.q_value(belief, high) - nets.belief.q_value(belief, low)).abs().mean()
        across_beliefs = nets.belief.q_value(belief, low).std()
    # at init, moving the action across its range changes Q_i about as much as another belief does
    assert spread > 0.2 * across_beliefs
