"""Helpers for end-to-end tests of the entry points: loopback overrides, composed configs, checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from econ.config.resolvers import register_resolvers

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
MINILM_DIM = 384  # embedder=local
# Networks small enough that a test's train or evaluate run spends its time in the code under test
TINY_NETWORKS = ["agents.n_agents=2", "agents.belief_dim=16", "agents.entity_dim=32", "agents.n_blocks=1"]
# ... and a learner that updates every two episodes on batches of two, so a few episodes train
TINY_RUN = [*TINY_NETWORKS, "learner.update_interval=2", "learner.batch_size=2"]


def loopback_overrides(base_url: str) -> list[str]:
    """Point a run's model at an OpenAI-compatible loopback server."""
    return ["model=openai_compatible", f"model.base_url={base_url}", "model.model=loopback"]


def compose_config(overrides: list[str], name: str = "evaluate") -> DictConfig:
    """The config an entry point would see for these overrides (without Hydra's runtime section)."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def write_untrained_checkpoint(path: Path, overrides: list[str], obs_dim: int = MINILM_DIM, seed: int = 0) -> Path:
    """A checkpoint of freshly initialised (seeded) networks in the format training writes, for evaluation tests.

    It records no team: untrained networks learnt nothing about any model, so any team may play them.
    """
    from econ.config.settings import load_settings
    from econ.learner.module import ECONModule

    with torch.random.fork_rng():  # the caller's global RNG stays as it was
        torch.manual_seed(seed)
        module = ECONModule(load_settings(compose_config(overrides)), obs_dim=obs_dim)
    hparams = dict(module.hparams)
    hparams["econ"] = {key: value for key, value in hparams["econ"].items() if key != "team"}
    checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": hparams, "optimizer_states": []}
    module.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return Path(path)
