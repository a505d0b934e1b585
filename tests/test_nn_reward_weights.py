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
        torch.testing.assert_close(weights.omega.grad, torch.zeros(2))


def _fit(weights: RewardWeights, batches) -> torch.Tensor:
    optimiser = torch.optim.Adam(weights.parameters(), lr=1e-2)
    for terms, team_correct in batches:
        optimiser.zero_grad()
        weights.dynamic_reward_loss(terms, team_correct).backward()
        optimiser.step()
    return weights.alpha.detach()


def _game_batches(steps: int, tracking: str | None, seed: int = 0):
    """Rewards as the game builds them: CC_i = ±1 by team correctness when i backed the commitment.

    `tracking` names the term ("al" or "ts") equal to team correctness; the other is noise (both, if None).
    """
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        team_correct = (torch.rand(16, generator=generator) < 0.5).float()  # (B,)
        backed = (torch.rand(16, 3, generator=generator) < 0.7).float()  # (B, N)
        terms = (torch.rand(16, 3, 3, generator=generator) < 0.5).float()  # noise
        for k, name in enumerate(("al", "ts")):
            if tracking == name:
                terms[..., k] = team_correct[:, None]
        terms[..., 2] = backed * (2 * team_correct[:, None] - 1)
        yield terms, team_correct


def test_alpha_does_not_drift_to_the_term_built_from_team_correctness():
    start = RewardWeights().alpha.detach()
    # AL and TS carry no signal; CC correlates with team correctness by construction (the old objective
    # moved α toward it)
    alpha = _fit(RewardWeights(), _game_batches(300, tracking=None))
    assert torch.isclose(alpha[2], start[2])


def test_alpha_moves_toward_the_correctness_term_when_it_predicts_team_success():
    start = RewardWeights().alpha.detach()
    alpha = _fit(RewardWeights(), _game_batches(300, tracking="ts"))
    assert alpha[1] > start[1] + 0.1 and alpha[0] < start[0] and torch.isclose(alpha[2], start[2])


def test_alpha_moves_toward_alignment_when_alignment_predicts_team_success():
    start = RewardWeights().alpha.detach()
    alpha = _fit(RewardWeights(), _game_batches(300, tracking="al"))
    assert alpha[0] > start[0] + 0.1 and alpha[1] < start[1]
