"""Typed settings, built once from the config: what the networks, the learner and the game read.

The user-facing keys stay in the config groups (`agents`, `bne`, `learner`, `reward`); `load_settings`
reads them once, after `validate`, and the rest of econ passes these frozen records instead of config
nodes. `Settings.hparams` is what a checkpoint stores (and is checked against when it is loaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from econ.llm.team import describe_team

HPARAM_GROUPS = ("agents", "bne", "learner", "reward")


@dataclass(frozen=True)
class NetworkSettings:
    """Sizes and action bounds of the belief network, encoder and mixer (`agents.*`)."""

    n_agents: int
    belief_dim: int = 128
    entity_dim: int = 256
    n_heads: int = 4
    n_blocks: int = 2
    dropout: float = 0.1
    temperature_bounds: tuple[float, float] = (0.1, 2.0)
    penalty_bounds: tuple[float, float] = (0.1, 0.9)
    group_size: int | None = None  # executors per local coordinator; None or >= n_agents: flat
    mixer_hidden_dim: int = 64
    feature_dim: int = 64

    @classmethod
    def from_agents(cls, agents: Any) -> NetworkSettings:
        """From an `agents` config node (or the dict a checkpoint stored)."""
        return cls(
            n_agents=agents["n_agents"],
            belief_dim=agents["belief_dim"],
            entity_dim=agents["entity_dim"],
            n_heads=agents["n_heads"],
            n_blocks=agents["n_blocks"],
            dropout=agents["dropout"],
            temperature_bounds=tuple(agents["temperature_bounds"]),
            penalty_bounds=tuple(agents["penalty_bounds"]),
            group_size=agents.get("group_size"),
        )


@dataclass(frozen=True)
class LearnerSettings:
    """Replay and optimisation (`learner.*`)."""

    buffer_size: int = 32
    batch_size: int = 16
    update_interval: int = 10
    updates_per_step: int = 8
    policy_delay: int = 2
    gamma: float = 0.99
    tau: float = 0.01
    lr: float = 1e-3
    lr_policy: float = 5e-4
    lr_coordinator: float = 5e-4
    exploration_sigma: float = 0.1
    max_episodes: int | None = None
    checkpoint_every: int = 1
    torch_threads: int = 1


@dataclass(frozen=True)
class RewardSettings:
    """The reward mixture α and the auxiliary loss weights (`reward.*`)."""

    alpha_init: tuple[float, float, float] = (0.4, 0.4, 0.2)
    lr: float = 1e-3
    reg: float = 0.1
    lambda_sd: float = 0.1
    lambda_m: float = 0.1
    lambda_e: float = 0.1


@dataclass(frozen=True)
class Settings:
    """Everything the learner depends on, and the checkpoint's record of it."""

    networks: NetworkSettings
    learner: LearnerSettings
    reward: RewardSettings
    k_train: int  # BNE rounds a training episode plays (bne.max_iterations_train)
    seed: int
    hparams: dict[str, Any]  # {"agents", "bne", "learner", "reward": plain dicts, "seed", "team"}: saved in checkpoints


def load_settings(cfg: DictConfig) -> Settings:
    """The typed settings of a validated config; the config groups are read here and nowhere else."""
    hparams: dict[str, Any] = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in HPARAM_GROUPS}
    hparams["seed"] = cfg.seed
    hparams["team"] = describe_team(cfg)  # models per role and per executor: a checkpoint records who played
    return settings_from_hparams(hparams)


def settings_from_hparams(hparams: dict[str, Any]) -> Settings:
    """Settings from the plain dicts a checkpoint stores (`Settings.hparams`)."""
    learner = hparams["learner"]
    reward = hparams["reward"]
    return Settings(
        networks=NetworkSettings.from_agents(hparams["agents"]),
        learner=LearnerSettings(**{key: learner[key] for key in LearnerSettings.__dataclass_fields__}),
        reward=RewardSettings(
            alpha_init=tuple(reward["alpha_init"]),
            **{key: reward[key] for key in RewardSettings.__dataclass_fields__ if key != "alpha_init"},
        ),
        k_train=hparams["bne"]["max_iterations_train"],
        seed=hparams["seed"],
        hparams=hparams,
    )
