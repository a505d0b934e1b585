"""RewardWeights: the learned reward mixture α = softmax(ω) over the terms [AL, TS, CC]."""

from __future__ import annotations

import torch
from torch import Tensor, nn

_MIN_STD = 1e-6  # below this a batch carries no correlation signal


class RewardWeights(nn.Module):
    """α = softmax(ω) on the simplex; ω starts at log(init) so that α starts exactly at init."""

    def __init__(self, init: tuple[float, float, float] = (0.4, 0.4, 0.2), reg: float = 0.1):
        super().__init__()
        alpha0 = torch.as_tensor(init, dtype=torch.float32)
        if alpha0.shape != (3,) or (alpha0 <= 0).any():
            raise ValueError(f"reward weights init={tuple(init)}: need three positive numbers [AL, TS, CC]")
        alpha0 = alpha0 / alpha0.sum()
        self.register_buffer("alpha0", alpha0)
        self.omega = nn.Parameter(alpha0.log())
        self.reg = reg

    @property
    def alpha(self) -> Tensor:
        """α = softmax(ω): (3,), non-negative, sums to 1."""
        return torch.softmax(self.omega, dim=0)

    def combine(self, terms: Tensor) -> Tensor:
        """r = α1·AL + α2·TS + α3·CC: (..., 3) -> (...)."""
        return terms @ self.alpha

    def dynamic_reward_loss(self, terms: Tensor, team_correct: Tensor) -> Tensor:
        """L_dr = −ρ(r̄(α), team_correct) + reg · KL(α ‖ α0).

        r̄_b(α) = (1/N) Σ_i α · terms_{b,i} is the team-mean reward of batch row b, ρ is the
        Pearson correlation over the batch with the 0/1 correctness of the team's final
        commitment, and KL(α ‖ α0) = Σ_k α_k log(α_k / α0_k) keeps α near its initial value.
        Minimising L_dr shifts weight toward the terms that track team success. A batch in
        which team_correct or r̄ is constant has no correlation signal: ρ is then 0 with zero
        gradient (never NaN), and only the regulariser acts.
        terms (B, N, 3), team_correct (B,) -> scalar.
        """
        alpha = self.alpha
        r_bar = self.combine(terms).mean(dim=1)  # (B,)
        correct = team_correct.to(r_bar.dtype)
        r_centred, c_centred = r_bar - r_bar.mean(), correct - correct.mean()
        r_std = r_centred.pow(2).mean().sqrt()
        c_std = c_centred.pow(2).mean().sqrt()
        if r_std < _MIN_STD or c_std < _MIN_STD:
            correlation = r_bar.sum() * 0.0  # keep the graph, contribute nothing
        else:
            correlation = (r_centred * c_centred).mean() / (r_std * c_std)
        kl = (alpha * (alpha.log() - self.alpha0.log())).sum()
        return -correlation + self.reg * kl
