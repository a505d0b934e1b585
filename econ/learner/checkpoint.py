"""Checkpoints of the learner: loaded once, refused with one line when another format or other sizes made them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from econ.config.settings import Settings
from econ.errors import ConfigError
from econ.llm.team import team_roles
from econ.nn.groups import effective_group_size
from econ.run.inputs import error_reason, readable_file

# Version of what a checkpoint holds; 2: observation flags and five text fields, the critic's action
# pathway, per-round transitions grouped by episode.
CHECKPOINT_FORMAT = 2


def load_checkpoint(
    path: str | Path, settings: Settings, allow_team_change: bool = False, resumed: bool = False
) -> dict[str, Any]:
    """A checkpoint, refused with a one-line error when it is not one, of another format or of other network
    sizes, or trained by another team (unless `allow_team_change`).

    The one compatibility check: entry points call this before any model loads, then `ECONModule.restore`
    (the embedding size alone, known once the embedder is built, is `check_obs_dim`'s).
    `resumed`: the run dir's own last.ckpt, found by `resume`; a broken one is reported, never removed.
    """
    if resumed:
        checkpoint = load_checkpoint_file(
            path, "resume", "move it aside to restart this run from scratch, or pass resume=false for a new run dir"
        )
    else:
        checkpoint = load_checkpoint_file(path)
    check_compatible(checkpoint, settings.hparams["agents"])
    if not allow_team_change:
        check_team(checkpoint, settings.hparams.get("team"))
    return checkpoint


CKPT_FIX = "give a last.ckpt written by python -m econ.train"


def load_checkpoint_file(path: str | Path, key: str = "ckpt_path", fix: str = CKPT_FIX) -> dict[str, Any]:
    """The checkpoint's contents, or ConfigError when the file is not an econ checkpoint at all.

    Whether its networks fit this config is `check_compatible`'s job.
    """
    file = readable_file(path, key, fix)
    try:
        checkpoint = torch.load(file, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - torch and pickle raise many types for a file that is no checkpoint
        raise ConfigError(f"{key}={path}: not a readable checkpoint ({error_reason(error)}); {fix}") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise ConfigError(f"{key}={path}: a torch file, but not an econ checkpoint (no state_dict); {fix}")
    return checkpoint


def check_team(checkpoint: dict[str, Any], team: dict[str, Any] | None) -> None:
    """The policy learnt per executor on its model: another team plays it only when the user says so.

    Checkpoints made before teams were recorded carry none and are not checked.
    """
    saved = checkpoint.get("hyper_parameters", {}).get("econ", {}).get("team")
    if saved is None or team is None:
        return
    if (saved["coordinator"], list(saved["executors"])) != (team["coordinator"], list(team["executors"])):
        raise ConfigError(
            f"allow_team_change=false: the checkpoint was trained by {team_roles(saved)}, this run is "
            f"{team_roles(team)}; set allow_team_change=true to play it with this team"
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


def check_obs_dim(checkpoint: dict[str, Any], obs_dim: int) -> None:
    """The checkpoint's networks read embeddings of this size (known once the embedder is built, before any call)."""
    saved = checkpoint.get("hyper_parameters", {}).get("obs_dim", obs_dim)
    if saved != obs_dim:
        raise ConfigError(
            f"embedder: the checkpoint was trained on {saved}-d embeddings, this embedder gives "
            f"{obs_dim}-d; use the embedder it was trained with or train a new checkpoint"
        )


def _override_value(value: Any) -> str:
    return "null" if value is None else str(value)
