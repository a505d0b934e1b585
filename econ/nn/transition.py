"""Replay records: one BNE round (Transition) and a stacked batch of them (TransitionBatch).

Every round an episode plays is a transition, so the rounds inference plays are the rounds
training fits. Actions are stored normalised to [0, 1] and rewards as their three raw terms
[AL, TS, CC], because α is learned and the reward r_i = α · terms_i is recombined at every update.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass
class Transition:
    """One BNE round for N executors; tensors without a batch dimension (fields: econ/nn/observation.py)."""

    obs: Tensor  # (n_agents, n_fields, embed_dim): the text fields the round's actions were chosen from
    flags: Tensor  # (n_agents, n_flags): the game flags of the same observation
    action: Tensor  # (n_agents, 2): [T, p] as played (exploration included), normalised to [0, 1]
    reward_terms: Tensor  # (n_agents, 3): [AL, TS, CC] of this round's answers and commitment
    commitment: Tensor  # (embed_dim,): embedding of this round's commitment
    team_correct: Tensor  # (): 1.0 if this round's commitment was right, else 0.0
    next_obs: Tensor  # (n_agents, n_fields, embed_dim): what the next round (or decision step) observes
    next_flags: Tensor  # (n_agents, n_flags)
    done: Tensor  # (): 1.0 when the target does not bootstrap from next_obs

    def to_dict(self) -> dict[str, Tensor]:
        """Plain dict of CPU tensors, for checkpoints."""
        return {f.name: getattr(self, f.name).detach().cpu() for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Tensor]) -> Transition:
        """Inverse of to_dict."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass
class TransitionBatch:
    """Transitions stacked along a leading batch dimension B."""

    obs: Tensor  # (B, n_agents, n_fields, embed_dim)
    flags: Tensor  # (B, n_agents, n_flags)
    action: Tensor  # (B, n_agents, 2)
    reward_terms: Tensor  # (B, n_agents, 3)
    commitment: Tensor  # (B, embed_dim)
    team_correct: Tensor  # (B,)
    next_obs: Tensor  # (B, n_agents, n_fields, embed_dim)
    next_flags: Tensor  # (B, n_agents, n_flags)
    done: Tensor  # (B,)

    def __len__(self) -> int:
        return self.obs.shape[0]

    def to(self, device: torch.device | str) -> TransitionBatch:
        """The same batch on another device."""
        return TransitionBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def to_dict(self) -> dict[str, Tensor]:
        """Plain dict of CPU tensors, for checkpoints."""
        return {f.name: getattr(self, f.name).detach().cpu() for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Tensor]) -> TransitionBatch:
        """Inverse of to_dict."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def collate(transitions: list[Transition]) -> TransitionBatch:
    """Stack transitions into a batch; all must have the same n_agents, n_fields and embed_dim."""
    if not transitions:
        raise ValueError("collate: got no transitions; sample at least one from the replay buffer")
    stacked = {}
    for f in fields(Transition):
        shapes = {tuple(getattr(t, f.name).shape) for t in transitions}
        if len(shapes) > 1:
            raise ValueError(
                f"collate: field {f.name!r} has different shapes {sorted(shapes)}; "
                "every transition in a batch needs the same n_agents and embedding size"
            )
        stacked[f.name] = torch.stack([getattr(t, f.name).float() for t in transitions])
    return TransitionBatch(**stacked)
