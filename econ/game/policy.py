"""Where a round's sampling actions come from: the belief network (ECON) or one fixed action (the ablation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from econ.nn.belief import BeliefNetwork, explore
from econ.nn.observation import Observation


@dataclass(frozen=True)
class PolicyStep:
    """The actions of N executors for one round."""

    played: Tensor  # (N, 2) normalised actions sent to the LLM (exploration included)
    mean: Tensor  # (N, 2) normalised policy means, without exploration: what the fixed-point test compares
    actions: Tensor  # (N, 2) played actions in sampling units [T, p]
    belief_norms: list[float]  # |b_i|; empty without a belief network
    best_response_gap: list[float] | None  # ε_i from each agent's critic; None without one


class ActionPolicy(Protocol):
    """Maps a round's observation to the executors' actions."""

    def act(self, obs: Observation) -> PolicyStep: ...

    def mean(self, obs: Observation) -> Tensor:
        """(N, 2) normalised policy means for obs, without exploration (what the next round would aim for)."""
        ...


class BeliefPolicy:
    """e_i = scale(μ_i(b_i)) from the belief network, plus Gaussian exploration while training (sigma > 0)."""

    def __init__(self, belief: BeliefNetwork, sigma: float = 0.0, generator: torch.Generator | None = None):
        self.belief, self.sigma, self.generator = belief, sigma, generator

    @torch.no_grad()
    def mean(self, obs: Observation) -> Tensor:
        return self.belief.action_mean(self.belief(obs.fields[None], obs.flags[None]))[0]

    @torch.no_grad()
    def act(self, obs: Observation) -> PolicyStep:
        beliefs = self.belief(obs.fields[None], obs.flags[None])  # (1, N, belief_dim)
        mean = self.belief.action_mean(beliefs)  # (1, N, 2)
        played = explore(mean, self.sigma, self.generator)
        return PolicyStep(
            played=played[0],
            mean=mean[0],
            actions=self.belief.scale_action(played)[0],
            belief_norms=beliefs[0].norm(dim=-1).tolist(),
            best_response_gap=self.belief.best_response_gap(beliefs, mean)[0].tolist(),
        )


class FixedActionPolicy:
    """Every executor at one [T, p] in every round: ECON's protocol without its learned policy.

    Normalised units use the agents' action bounds, so a fixed action is stored like a learned one;
    its residual is always 0, so its rounds stop exactly when the commitment stops changing.
    """

    def __init__(
        self,
        temperature: float,
        penalty: float,
        n_agents: int,
        t_bounds: tuple[float, float],
        p_bounds: tuple[float, float],
    ):
        # float64, so the sampling sent is exactly the configured value (0.7, not 0.699999988)
        self.actions = torch.tensor([[float(temperature), float(penalty)]], dtype=torch.float64).expand(n_agents, 2)
        low = torch.tensor([t_bounds[0], p_bounds[0]], dtype=torch.float64)
        high = torch.tensor([t_bounds[1], p_bounds[1]], dtype=torch.float64)
        self.normalised = ((self.actions - low) / (high - low)).float()

    def mean(self, obs: Observation) -> Tensor:
        return self.normalised

    def act(self, obs: Observation) -> PolicyStep:
        return PolicyStep(self.normalised, self.normalised, self.actions, [], None)
