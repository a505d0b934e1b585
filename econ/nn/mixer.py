"""Mixer: QMIX-style monotonic mixing of {Q_i} into Q_tot, for any number of agents N.

QMIX's hypernetwork emits an (N × hidden) weight matrix, which ties it to one N. Here each
agent's row of weights comes from the same hypernetwork applied to (E, b_i), and the rows are
averaged over agents, so one set of parameters mixes 1, 3 or 8 agents alike:

    h       = ELU( (1/N) Σ_i |W1(E, b_i)| · Q_i + B1(E) )        (B, hidden)
    Q_tot   = |W2(E)| · h + V(E)                                  (B,)

|·| keeps every mixing weight ≥ 0 and ELU is increasing, so ∂Q_tot/∂Q_i ≥ 0 (monotonic).
The mean over agents (not QMIX's sum) keeps Q_tot on the scale of the team reward mean_i r_i.

An attention layer over the live actions e_i = μ_i(b_i) gives features F_i, and the
commitment embedding is projected into the same space; they feed the similarity-difference
loss, whose gradient reaches both these layers and the policy head μ.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from econ.errors import ConfigError


def _mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))


def monotonic_mix(
    q: Tensor,
    state: Tensor,
    items: Tensor,
    hyper_w1: nn.Module,
    hyper_b1: nn.Module,
    hyper_w2: nn.Module,
    value: nn.Module,
) -> Tensor:
    """Q = |W2(E)| · ELU((1/M) Σ_j |W1(E, x_j)| · Q_j + B1(E)) + V(E): q (B, M), E (B, D), x (B, M, D) -> (B,).

    The one place the mixing equation is written: the flat mixer mixes agents with it (x_j = b_j), the
    hierarchical one groups, then groups' values. Non-decreasing in every Q_j (|W| ≥ 0, ELU increasing).
    """
    state_per_item = state.unsqueeze(1).expand(-1, q.shape[1], -1)  # (B, M, D)
    w1 = hyper_w1(torch.cat([state_per_item, items], dim=-1)).abs()  # (B, M, hidden)
    hidden = nn.functional.elu((w1 * q.unsqueeze(-1)).mean(dim=1) + hyper_b1(state))  # (B, hidden)
    return (hyper_w2(state).abs() * hidden).sum(dim=-1) + value(state).squeeze(-1)


class ActionFeatures(nn.Module):
    """F: self-attention over the N normalised actions, (B, N, 2) -> (B, N, feature_dim)."""

    def __init__(self, feature_dim: int, n_heads: int):
        super().__init__()
        self.embed = nn.Linear(2, feature_dim)
        self.attention = nn.MultiheadAttention(feature_dim, n_heads, batch_first=True)

    def forward(self, actions: Tensor) -> Tensor:
        x = self.embed(actions)  # (B, N, feature_dim)
        attended, _ = self.attention(x, x, x, need_weights=False)
        return x + attended


class Mixer(nn.Module):
    """Monotonic Q_tot(Q, E, b) plus action features F and the projected commitment c."""

    def __init__(
        self,
        belief_dim: int,
        commitment_dim: int,
        hidden_dim: int = 64,
        feature_dim: int = 64,
        n_heads: int = 4,
    ):
        super().__init__()
        if feature_dim % n_heads:
            raise ConfigError(f"feature_dim={feature_dim} must be divisible by n_heads={n_heads}")
        self.hyper_w1 = _mlp(2 * belief_dim, hidden_dim, hidden_dim)  # per-agent weights from (E, b_i)
        self.hyper_b1 = nn.Linear(belief_dim, hidden_dim)
        self.hyper_w2 = _mlp(belief_dim, hidden_dim, hidden_dim)
        self.value = _mlp(belief_dim, hidden_dim, 1)  # state-dependent bias V(E)

        self.action_features = ActionFeatures(feature_dim, n_heads)
        self.commitment_proj = nn.Linear(commitment_dim, feature_dim)

    def forward(self, q: Tensor, group: Tensor, beliefs: Tensor) -> Tensor:
        """Same as q_tot (so torch.func.functional_call can run it)."""
        return self.q_tot(q, group, beliefs)

    def q_tot(self, q: Tensor, group: Tensor, beliefs: Tensor) -> Tensor:
        """Q_tot: q (B, N), E (B, D), b (B, N, D) -> (B,), non-decreasing in every Q_i (`monotonic_mix`)."""
        return monotonic_mix(q, group, beliefs, self.hyper_w1, self.hyper_b1, self.hyper_w2, self.value)

    def features(self, actions: Tensor) -> Tensor:
        """F: self-attention over the N normalised actions, (B, N, 2) -> (B, N, feature_dim)."""
        return self.action_features(actions)

    def project_commitment(self, commitment: Tensor) -> Tensor:
        """c: commitment embedding (B, commitment_dim) -> (B, feature_dim), the space of F."""
        return self.commitment_proj(commitment)
