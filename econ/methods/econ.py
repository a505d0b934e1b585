"""ECON's methods: the strategy, up to `rounds` BNE rounds and the commitment, under the trained policy or a fixed action.

`econ` plays K = bne.max_iterations_infer rounds, `econ_no_bne` one (the paper's "w/o BNE"), both with the
checkpoint's belief networks choosing each executor's action; `econ_fixed_action` plays K rounds with
every executor at agents.fixed_action, so it needs no checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch

from econ.data.datasets import Problem
from econ.errors import ConfigError
from econ.game import prompts
from econ.game.policy import ActionPolicy, BeliefPolicy, FixedActionPolicy
from econ.game.records import EpisodeResult
from econ.methods import Players
from econ.methods.transcript import whole


def fingerprint(network: torch.nn.Module) -> str:
    """A short hash of a network's weights: results made by other weights are not reused."""
    digest = hashlib.sha256()
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class EconMethod:
    """ECON under the trained policy: e_i = scale(μ_i(b_i)) from the checkpoint's belief network, no exploration."""

    needs_checkpoint = True

    def __init__(self, name: str, rounds: int):
        self.name = name
        self.rounds = whole(rounds, "method.rounds", 1)

    def describe(self) -> dict[str, Any]:
        return {}  # the checkpoint, α and the training counts are recorded by the entry point that loaded it

    def policy(self, players: Players) -> tuple[ActionPolicy, str]:
        """The policy the rounds play, and a tag of what decides its actions."""
        if players.learner is None:
            raise ConfigError(f"method={self.name}: plays the trained policy; give ckpt_path=<last.ckpt>")
        players.learner.nets.eval()
        return BeliefPolicy(players.learner.nets.belief), fingerprint(players.learner.nets.belief)

    def tag(self, players: Players) -> str:
        # same policy, same prompts, same way of asking for the commitment
        structured = players.runner.settings.structured_commitment
        return (
            f"{self.policy(players)[1]}-{prompts.template_fingerprint()}-{prompts.commitment_fingerprint(structured)}"
        )

    async def play(self, players: Players, problem: Problem) -> EpisodeResult:
        result, _ = await players.runner.play(problem, self.name, self.rounds, self.policy(players)[0])
        return result


class FixedActionMethod(EconMethod):
    """ECON's protocol with every executor at one [T, p] in every round: what the protocol adds without the policy."""

    needs_checkpoint = False

    def __init__(
        self,
        name: str,
        rounds: int,
        temperature: float,
        penalty: float,
        n_agents: int,
        temperature_bounds: tuple[float, float],
        penalty_bounds: tuple[float, float],
    ):
        super().__init__(name, rounds)
        self.action = {"temperature": temperature, "penalty": penalty}
        self._policy = FixedActionPolicy(
            temperature, penalty, n_agents, tuple(temperature_bounds), tuple(penalty_bounds)
        )

    def describe(self) -> dict[str, Any]:
        return {"fixed_action": dict(self.action)}

    def policy(self, players: Players) -> tuple[ActionPolicy, str]:
        fixed = json.dumps(self.action, sort_keys=True)
        return self._policy, hashlib.sha256(fixed.encode()).hexdigest()[:16]
