"""RewardWeights: the reward mixture α over the terms [AL, TS, CC], with the AL : TS split learned.

α weights the terms of the reward that trains the critics (r_i = α · terms_i); it plays no part
at evaluation, where actions come from the policy alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_MIN_STD = 1e-6  # below this a batch carries no correlation signal


def combine(terms: Tensor, alpha: Tensor) -> Tensor:
    """r = α1·AL + α2·TS + α3·CC: terms (..., 3), α (3,) -> (...)."""
    return terms @ alpha


class RewardWeights(nn.Module):
    """α = [(1 − c)·softmax(ω), c] on the simplex: CC keeps its initial share c, ω sets AL : TS.

    Why CC's share is not learned: CC_i = ±1 by whether the team's commitment was correct, so any
    objective that scores the reward against team correctness rewards CC for being built from the
    target (α drifted to CC whatever the executors did). AL and TS are measured without the
    team's outcome, so their split can be learned against it (`dynamic_reward_loss`).
    ω starts at log(init) so that α starts exactly at init.
    """

    def __init__(self, init: tuple[float, float, float] = (0.4, 0.4, 0.2), reg: float = 0.1):
        super().__init__()
        alpha0 = torch.as_tensor(init, dtype=torch.float32)
        if alpha0.shape != (3,) or (alpha0 <= 0).any():
            raise ValueError(f"reward weights init={tuple(init)}: need three positive numbers [AL, TS, CC]")
        alpha0 = alpha0 / alpha0.sum()
        self.register_buffer("alpha0", alpha0)
        self.omega = nn.Parameter(alpha0[:2].log())  # logits of [AL, TS]
        self.reg = reg

    @property
    def alpha(self) -> Tensor:
        """α = [(1 − α0_CC)·softmax(ω), α0_CC]: (3,), non-negative, sums to 1."""
        cc = self.alpha0[2:]
        return torch.cat([torch.softmax(self.omega, dim=0) * (1.0 - cc), cc])

    def combine(self, terms: Tensor) -> Tensor:
        """r = α1·AL + α2·TS + α3·CC with this α: (..., 3) -> (...)."""
        return combine(terms, self.alpha)

    def dynamic_reward_loss(self, terms: Tensor, team_correct: Tensor) -> Tensor:
        """L_dr = −ρ(r̄(ω), team_correct) + reg · KL(s ‖ s0), over the terms not built from the target.

        s = softmax(ω) is the AL : TS split (s0 its initial value), r̄_b = (1/N) Σ_i (s_AL·AL_{b,i} +
        s_TS·TS_{b,i}) the team mean of those two terms in batch row b, ρ the Pearson correlation
        over the batch with the 0/1 correctness of the round's commitment, and
        KL(s ‖ s0) = Σ_k s_k log(s_k / s0_k). AL (agreement with the commitment) and TS (the
        executor's own correctness) are measured without the team's outcome, so minimising L_dr
        moves weight toward the one whose value predicts team success. A batch in which
        team_correct or r̄ is constant carries no correlation signal: ρ is then 0 with zero
        gradient (never NaN). terms (B, N, 3), team_correct (B,) -> scalar.
        """
        split = torch.softmax(self.omega, dim=0)
        split0 = self.alpha0[:2] / self.alpha0[:2].sum()
        r_bar = (terms[..., :2] @ split).mean(dim=1)  # (B,)
        correct = team_correct.to(r_bar.dtype)
        r_centred, c_centred = r_bar - r_bar.mean(), correct - correct.mean()
        r_std = r_centred.pow(2).mean().sqrt()
        c_std = c_centred.pow(2).mean().sqrt()
        if r_std < _MIN_STD or c_std < _MIN_STD:
            correlation = r_bar.sum() * 0.0  # keep the graph, contribute nothing
        else:
            correlation = (r_centred * c_centred).mean() / (r_std * c_std)
        kl = (split * (split.log() - split0.log())).sum()
        return -correlation + self.reg * kl
