import torch

from econ.nn import RewardWeights


def test_alpha_starts_at_init_and_combines_terms():
    weights = RewardWeights(init=(0.4, 0.4, 0.2))
    torch.testing.assert_close(weights.alpha, torch.tensor([0.4, 0.4, 0.2]))
    terms = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    torch.testing.assert_close(weights.combine(terms), torch.tensor([0.4, 0.6]))


def test_alpha_moves_toward_the_term_that_predicts_team_success_and_stays_on_the_simplex():
    torch.manual_seed(0)
    weights = RewardWeights(reg=0.1)
    optimiser = torch.optim.Adam(weights.parameters(), lr=1e-2)
    start = weights.alpha.detach().clone()
    for _ in range(100):
        team_correct = (torch.rand(16) < 0.5).float()  # (B,)
        terms = torch.rand(16, 3, 3)  # AL and CC: pure noise
        terms[..., 1] = team_correct.unsqueeze(1)  # TS: tracks team success exactly
        optimiser.zero_grad()
        weights.dynamic_reward_loss(terms, team_correct).backward()
        optimiser.step()
        alpha = weights.alpha.detach()
        assert (alpha >= 0).all() and torch.isclose(alpha.sum(), torch.tensor(1.0))
    assert alpha[1] > start[1] + 0.1  # TS rises
    assert alpha[0] < start[0]  # AL falls


def test_degenerate_batches_give_zero_correlation_gradient_not_nan():
    weights = RewardWeights()
    terms = torch.rand(8, 3, 3)
    for team_correct, batch_terms in (
        (torch.ones(8), terms),  # every commitment right
        (torch.tensor([0.0, 1.0] * 4), torch.full((8, 3, 3), 0.5)),  # constant rewards
        (torch.ones(1), terms[:1]),  # batch of one
    ):
        weights.zero_grad()
        loss = weights.dynamic_reward_loss(batch_terms, team_correct)
        loss.backward()
        assert torch.isfinite(loss)
        # at α = α0 the KL regulariser is flat too, so nothing moves
        torch.testing.assert_close(weights.omega.grad, torch.zeros(3))
