"""Checkpoints of the learner: loaded once, refused with one line when another format or other sizes made them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from econ.config.settings import Settings
from econ.errors import ConfigError
from econ.nn.groups import effective_group_size

# Version of what a checkpoint holds; 2: observation flags and five text fields, the critic's action
# pathway, per-round transitions grouped by episode.
CHECKPOINT_FORMAT = 2


def load_checkpoint(path: str | Path, settings: Settings, allow_team_change: bool = False) -> dict[str, Any]:
    """A checkpoint, refused with a one-line error when missing, of another format or of other network sizes,
    or trained by another team (unless `allow_team_change`).

    The one compatibility check: entry points call this before any model loads, then `ECONModule.restore`.
    """
    if not Path(path).exists():
        raise ConfigError(f"ckpt_path={path}: no such checkpoint")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    check_compatible(checkpoint, settings.hparams["agents"])
    if not allow_team_change:
        check_team(checkpoint, settings.hparams.get("team"))
    return checkpoint


def team_text(team: dict[str, Any]) -> str:
    executors = list(dict.fromkeys(team["executors"]))
    return f"coordinator {team['coordinator']}, executors {'+'.join(executors)}"


def check_team(checkpoint: dict[str, Any], team: dict[str, Any] | None) -> None:
    """The policy learnt per executor on its model: another team plays it only when the user says so.

    Checkpoints made before teams were recorded carry none and are not checked.
    """
    saved = checkpoint.get("hyper_parameters", {}).get("econ", {}).get("team")
    if saved is None or team is None:
        return
    if (saved["coordinator"], list(saved["executors"])) != (team["coordinator"], list(team["executors"])):
        raise ConfigError(
            f"allow_team_change=false: the checkpoint was trained by {team_text(saved)}, this run is "
            f"{team_text(team)}; set allow_team_change=true to play it with this team"
        )


ARCHITECTURE_KEYS = ("n_agents", "belief_dim", "entity_dim", "n_heads", "n_blocks")


def check_compatible(checkpoint: dict[str, Any], agents: dict[str, Any]) -> None:
    """A checkpoint of another format or trained with other network sizes cannot be loaded: say why."""
    made = checkpoint.get("econ_state", {}).get("format", 1)
    if made != CHECKPOINT_FORMAT:
        raise ConfigError(
            f"ckpt_path: the checkpoint has format {made}, this econ reads format {CHECKPOINT_FORMAT} "
            "(the networks changed); train a new checkpoint"
        )
    saved = checkpoint.get("hyper_parameters", {}).get("econ", {}).get("agents", {})
    for key in ARCHITECTURE_KEYS:
        if key in saved and saved[key] != agents[key]:
            raise ConfigError(
                f"agents.{key}={agents[key]}: the checkpoint was trained with agents.{key}={saved[key]}; "
                f"set agents.{key}={saved[key]} or train a new checkpoint"
            )
    # the encoder and mixer are flat or hierarchical over groups of g; g >= n_agents is flat, like null
    trained = effective_group_size(saved.get("n_agents", agents["n_agents"]), saved.get("group_size"))
    wanted = effective_group_size(agents["n_agents"], agents.get("group_size"))
    if trained != wanted:
        now, then = (_override_value(agents.get("group_size")), _override_value(saved.get("group_size")))
        raise ConfigError(
            f"agents.group_size={now}: the checkpoint was trained with agents.group_size={then}; "
            f"set agents.group_size={then} or train a new checkpoint"
        )


def _override_value(value: Any) -> str:
    return "null" if value is None else str(value)
