"""Networks: the belief network, belief encoder and mixer as one online or target copy of the learner."""

from __future__ import annotations

import copy

import torch
from torch import nn

from econ.config.settings import NetworkSettings
from econ.nn.belief import BeliefNetwork
from econ.nn.encoder import BeliefEncoder
from econ.nn.groups import effective_group_size
from econ.nn.hierarchical import HierarchicalBeliefEncoder, HierarchicalMixer
from econ.nn.mixer import Mixer
from econ.nn.observation import TEXT_FIELDS


class Networks(nn.Module):
    """Belief network, belief encoder and mixer: one online or target copy of the learner."""

    def __init__(self, belief: BeliefNetwork, encoder: BeliefEncoder | HierarchicalBeliefEncoder, mixer: Mixer):
        super().__init__()
        self.belief, self.encoder, self.mixer = belief, encoder, mixer
        self.is_target = False

    @classmethod
    def build(cls, settings: NetworkSettings, obs_dim: int) -> Networks:
        """The three networks with matching sizes; the commitment embedding has the obs field size.

        A group size below n_agents makes the encoder and mixer hierarchical (within groups, then across).
        """
        s = settings
        belief = BeliefNetwork(
            s.n_agents,
            obs_dim,
            len(TEXT_FIELDS),
            s.belief_dim,
            s.entity_dim,
            s.n_heads,
            s.n_blocks,
            s.dropout,
            s.temperature_bounds,
            s.penalty_bounds,
        )
        group = effective_group_size(s.n_agents, s.group_size)
        if group is None:
            return cls(
                belief,
                BeliefEncoder(s.belief_dim, s.n_heads, s.dropout),
                Mixer(s.belief_dim, obs_dim, s.mixer_hidden_dim, s.feature_dim, s.n_heads),
            )
        return cls(
            belief,
            HierarchicalBeliefEncoder(s.belief_dim, group, s.n_heads, s.dropout),
            HierarchicalMixer(s.belief_dim, obs_dim, group, s.mixer_hidden_dim, s.feature_dim, s.n_heads),
        )

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Disjoint groups, one optimiser each: belief (body + Q head), policy (μ head), encoder, mixer."""
        return {
            "belief": self.belief.critic_parameters(),
            "policy": self.belief.policy_parameters(),
            "encoder": list(self.encoder.parameters()),
            "mixer": list(self.mixer.parameters()),
        }

    def train(self, mode: bool = True) -> Networks:
        # a target copy stays in eval mode (no dropout in the targets), whatever its parent does
        return super().train(mode and not self.is_target)

    def make_target(self) -> Networks:
        """A frozen deep copy: requires_grad False, always in eval mode."""
        target = copy.deepcopy(self)
        target.requires_grad_(False)
        target.is_target = True
        return target.eval()

    @torch.no_grad()
    def soft_update(self, target: Networks, tau: float) -> None:
        """θ' ← τ·θ + (1 − τ)·θ' for every parameter and buffer of target (τ = 1: hard copy)."""
        for online, frozen in zip(self.state_dict().values(), target.state_dict().values(), strict=True):
            if frozen.is_floating_point():
                frozen.lerp_(online, tau)
            else:
                frozen.copy_(online)
