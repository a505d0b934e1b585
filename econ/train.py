"""`python -m econ.train +experiment=svamp`: train ECON, then evaluate baseline and BNE on `eval_split`."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from econ.learner.callbacks import EpisodeCheckpoint, TrainingProgress
from econ.learner.callbacks import GlobalRNGCheckpoint
from econ.config.redaction import redacted_container
from econ.config.resolvers import register_resolvers
from econ.errors import ConfigError
from econ.game.episode import EpisodeRunner, GameSettings
from econ.run.loggers import build_loggers, finish_wandb, log_results
from econ.learner.module import ECONModule
from econ.methods.econ import ECON_METHODS
from econ.eval.results import evaluate_econ, write_results
from econ.learner.checkpoint import learner_hparams, load_checkpoint
from econ.run.startup import start
from econ.run.sweep import quiet_launcher_schema_warning
from econ.run.job import run_job

log = logging.getLogger(__name__)
register_resolvers()
quiet_launcher_schema_warning()


def train(cfg: DictConfig) -> dict:
    """Play and learn on the train split, checkpoint, then evaluate on `eval_split` (test or validation)."""
    unknown = [m for m in cfg.eval_methods if m not in ECON_METHODS]
    if unknown:
        raise ConfigError(f"eval_methods={list(cfg.eval_methods)}: unknown {unknown}; choose from {list(ECON_METHODS)}")
    last = Path(HydraConfig.get().runtime.output_dir) / "last.ckpt"
    ckpt_path = cfg.ckpt_path or (str(last) if cfg.resume and last.exists() else None)
    checkpoint = load_checkpoint(ckpt_path, cfg) if ckpt_path else None  # refused before any model loads
    parts = start(cfg)
    try:
        module = ECONModule(learner_hparams(cfg), obs_dim=parts.embedder.dim)
        if checkpoint is not None:
            module.restore(checkpoint)
            log.info("resumed from %s after %d episodes", ckpt_path, module.episodes_done)
        runner = EpisodeRunner(parts.client, parts.embedder, GameSettings.from_config(cfg))
        module.attach(parts.splits.train, runner, parts.loop, parts.traces, cfg.learner.max_episodes)
        loggers = build_loggers(cfg, parts.run_dir, redacted_container(cfg), parts.run_dir.name)
        trainer = instantiate(
            cfg.trainer, logger=loggers or False, max_epochs=1, enable_checkpointing=False,
            default_root_dir=str(parts.run_dir),
            callbacks=[EpisodeCheckpoint(last, cfg.learner.checkpoint_every), TrainingProgress(),
                       GlobalRNGCheckpoint(checkpoint)],
        )
        trainer.fit(module)
        log.info("trained on %d episodes, %d updates", module.episodes_done, module.updates_done)
        problems = getattr(parts.splits, cfg.eval_split)  # start() checked it is test or validation
        summaries = evaluate_econ(cfg, parts, module, list(cfg.eval_methods), problems)
        results = write_results(cfg, parts, summaries, {
            "alpha": module.reward_weights.alpha.tolist(),
            "train_episodes": module.episodes_done,
            "updates": module.updates_done,
            "checkpoint": str(last),
        }, split=cfg.eval_split)
        log_results(loggers, results)
        return results
    except BaseException as error:
        finish_wandb(error)  # the W&B run shows the job as failed, with its error
        raise
    finally:
        finish_wandb()
        parts.close()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    results = run_job(lambda: train(cfg))
    # what a sweeper (optuna) optimises: accuracy on eval_split; a failed job of a multirun returns None
    return None if results is None else results["methods"][list(cfg.eval_methods)[-1]]["accuracy"]


if __name__ == "__main__":
    main()
