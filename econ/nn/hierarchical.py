"""Hierarchical encoder and mixer: attend and mix within contiguous groups of g agents, then across groups.

Both keep the flat call signatures (`encoder(b) -> E`, `mixer(q, E, b) -> Q_tot`) and hold only
g, not N: the partition is taken from the input's agent dimension, so one set of parameters
serves every N (the belief network's agent-id embedding is what ties a checkpoint to N).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from econ.nn.encoder import BeliefEncoder
from econ.nn.mixer import Mixer, _mlp, monotonic_mix


def per_group(
    fn: Callable[..., Tensor], group_size: int, grouped: tuple[Tensor, ...], shared: tuple[Tensor, ...] = ()
) -> Tensor:
    """fn on each contiguous group of ≤ group_size agents, batched over groups of equal size.

    grouped tensors (B, N, ...) are split along N; shared tensors (B, ...) are repeated for every
    group; fn maps (B', size, ...) pieces (then the shared ones) to (B', ...). Returns (B, G, ...).
    """
    batch, n = grouped[0].shape[:2]
    full = n // group_size * group_size  # agents in full groups; the rest form one smaller group
    outputs = []
    for start, stop, size in ((0, full, group_size), (full, n, n - full)):
        if stop == start:
            continue
        count = (stop - start) // size
        pieces = [t[:, start:stop].reshape(batch * count, size, *t.shape[2:]) for t in grouped]
        repeated = [t.repeat_interleave(count, dim=0) for t in shared]  # batch-major, like the pieces
        out = fn(*pieces, *repeated)  # (B * count, ...)
        outputs.append(out.reshape(batch, count, *out.shape[1:]))
    return torch.cat(outputs, dim=1)


class HierarchicalBeliefEncoder(nn.Module):
    """E = across(within(b_group) for every group): attention inside each group, then across group vectors."""

    def __init__(self, belief_dim: int, group_size: int, n_heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.group_size = group_size
        self.within = BeliefEncoder(belief_dim, n_heads, dropout)  # shared by every group
        self.across = BeliefEncoder(belief_dim, n_heads, dropout)

    def group_representations(self, beliefs: Tensor) -> Tensor:
        """(B, N, belief_dim) -> (B, G, belief_dim), one vector per group."""
        return per_group(self.within, self.group_size, (beliefs,))

    def forward(self, beliefs: Tensor) -> Tensor:
        """(B, N, belief_dim) -> E (B, belief_dim)."""
        return self.across(self.group_representations(beliefs))


class MonotonicMix(nn.Module):
    """The flat mixer's equation (`monotonic_mix`) over M items x_j, with hypernetworks of its own."""

    def __init__(self, belief_dim: int, hidden_dim: int):
        super().__init__()
        self.hyper_w1 = _mlp(2 * belief_dim, hidden_dim, hidden_dim)
        self.hyper_b1 = nn.Linear(belief_dim, hidden_dim)
        self.hyper_w2 = _mlp(belief_dim, hidden_dim, hidden_dim)
        self.value = _mlp(belief_dim, hidden_dim, 1)

    def forward(self, q: Tensor, state: Tensor, items: Tensor) -> Tensor:
        """q (B, M), E (B, D), x (B, M, D) -> (B,), non-decreasing in every q_j (`monotonic_mix`)."""
        return monotonic_mix(q, state, items, self.hyper_w1, self.hyper_b1, self.hyper_w2, self.value)


class HierarchicalMixer(Mixer):
    """Q_g = the flat mixer over group g's agents; Q_tot = a monotonic mix of {Q_g} conditioned on E and mean_g b.

    Both stages have non-negative weights and increasing activations, so their composition is
    non-decreasing in every Q_i; means at both stages keep Q_tot on the team-reward scale.
    The action features F and the commitment projection are the flat mixer's, over all N agents.
    """

    def __init__(
        self,
        belief_dim: int,
        commitment_dim: int,
        group_size: int,
        hidden_dim: int = 64,
        feature_dim: int = 64,
        n_heads: int = 4,
    ):
        super().__init__(belief_dim, commitment_dim, hidden_dim, feature_dim, n_heads)
        self.group_size = group_size
        self.across = MonotonicMix(belief_dim, hidden_dim)

    def q_tot(self, q: Tensor, group: Tensor, beliefs: Tensor) -> Tensor:
        """Q_tot: q (B, N), E (B, D), b (B, N, D) -> (B,), non-decreasing in every Q_i."""
        q_groups = per_group(
            lambda q_g, b_g, e: super(HierarchicalMixer, self).q_tot(q_g, e, b_g),
            self.group_size,
            (q, beliefs),
            (group,),
        )  # (B, G)
        summaries = per_group(lambda b_g: b_g.mean(dim=1), self.group_size, (beliefs,))  # (B, G, D)
        return self.across(q_groups, group, summaries)
