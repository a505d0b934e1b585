"""ECON's evaluation methods: the BNE rounds each plays and the policy that chooses its actions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

from econ.game.policy import ActionPolicy, BeliefPolicy, FixedActionPolicy
from econ.learner.module import ECONModule


@dataclass(frozen=True)
class EconMethod:
    """An ECON evaluation method: the BNE rounds it plays, and whether the trained policy chooses the actions."""

    rounds: Callable[[DictConfig], int]
    learned: bool  # False: every executor plays agents.fixed_action; no checkpoint needed


ECON_METHODS = {
    "econ_no_bne": EconMethod(lambda cfg: 1, learned=True),
    "econ": EconMethod(lambda cfg: cfg.bne.max_iterations_infer, learned=True),
    "econ_fixed_action": EconMethod(lambda cfg: cfg.bne.max_iterations_infer, learned=False),
}


def fingerprint(network: torch.nn.Module) -> str:
    """A short hash of a network's weights: results made by other weights are not reused."""
    digest = hashlib.sha256()
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def fixed_action_policy(cfg: DictConfig) -> FixedActionPolicy:
    """Every executor at agents.fixed_action (econ_fixed_action), in the agents' action units."""
    agents = cfg.agents
    return FixedActionPolicy(agents.fixed_action.temperature, agents.fixed_action.penalty, agents.n_agents,
                             tuple(agents.temperature_bounds), tuple(agents.penalty_bounds))


def method_policy(cfg: DictConfig, method: str, module: ECONModule | None) -> tuple[ActionPolicy, str]:
    """The policy an ECON method plays with, and a tag of what decides its actions (for resume)."""
    if ECON_METHODS[method].learned:
        module.nets.eval()
        return BeliefPolicy(module.nets.belief), fingerprint(module.nets.belief)
    fixed = json.dumps(OmegaConf.to_container(cfg.agents.fixed_action, resolve=True), sort_keys=True)
    return fixed_action_policy(cfg), hashlib.sha256(fixed.encode()).hexdigest()[:16]

