"""`python -m econ.evaluate method=econ ckpt_path=...`, `method=econ_fixed_action` or `method=single|self_consistency|mad`."""

from __future__ import annotations

import logging
import hydra
from omegaconf import DictConfig, OmegaConf

from econ.run.job import run_or_exit
from econ.config.resolvers import register_resolvers
from econ.errors import ConfigError
from econ.run.loggers import finish_wandb
from econ.learner.module import ECONModule
from econ.methods.econ import ECON_METHODS
from econ.eval.results import build_baseline, evaluate_baseline, evaluate_econ, write_results
from econ.learner.checkpoint import learner_hparams, load_checkpoint
from econ.run.startup import start

log = logging.getLogger(__name__)
register_resolvers()


def load_module(cfg: DictConfig, checkpoint: dict, obs_dim: int) -> ECONModule:
    """The learner with the checkpoint's networks, optimiser-free state and α."""
    module = ECONModule(learner_hparams(cfg), obs_dim=obs_dim)
    module.restore(checkpoint)
    return module


def run(cfg: DictConfig) -> dict:
    method = ECON_METHODS.get(cfg.method.name)
    if method is None:
        return run_baseline(cfg)
    if not method.learned:
        return run_fixed_action(cfg)
    if not cfg.ckpt_path:
        raise ConfigError("ckpt_path: give the checkpoint to evaluate, e.g. ckpt_path=outputs/svamp/.../last.ckpt")
    checkpoint = load_checkpoint(cfg.ckpt_path, cfg)  # refused before any model is loaded or called
    parts = start(cfg)
    try:
        module = load_module(cfg, checkpoint, parts.embedder.dim)
        summaries = evaluate_econ(cfg, parts, module, [cfg.method.name], parts.splits.test)
        return write_results(cfg, parts, summaries, {
            "alpha": module.reward_weights.alpha.tolist(), "checkpoint": str(cfg.ckpt_path),
            "train_episodes": module.episodes_done, "updates": module.updates_done,
        })
    finally:
        finish_wandb()
        parts.close()


def run_fixed_action(cfg: DictConfig) -> dict:
    """ECON's protocol at agents.fixed_action: no belief network, so no checkpoint."""
    parts = start(cfg)
    try:
        summaries = evaluate_econ(cfg, parts, None, [cfg.method.name], parts.splits.test)
        return write_results(cfg, parts, summaries, {
            "fixed_action": OmegaConf.to_container(cfg.agents.fixed_action, resolve=True)})
    finally:
        finish_wandb()
        parts.close()


def run_baseline(cfg: DictConfig) -> dict:
    """A baseline needs no checkpoint; its settings and budget are checked before any model loads."""
    baseline = build_baseline(cfg.method)
    parts = start(cfg)
    try:
        summary = evaluate_baseline(cfg, parts, baseline, parts.splits.test)
        return write_results(cfg, parts, {baseline.name: summary}, {"baseline": baseline.describe()})
    finally:
        finish_wandb()
        parts.close()


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> float | None:
    results = run_or_exit(lambda: run(cfg))
    return results["methods"][cfg.method.name]["accuracy"]


if __name__ == "__main__":
    main()
