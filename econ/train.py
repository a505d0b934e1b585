"""`python -m econ.train +experiment=svamp`: train ECON, then evaluate `eval_methods` on `eval_split`.

train(cfg) reads top to bottom: prepare (env file, checks, settings) → start (data, LLM, embedder) →
build the learner → fit → evaluate the methods → write results; `main` returns `optimized_metric`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from econ.config.resolvers import register_resolvers
from econ.eval.report import check_metric
from econ.eval.results import evaluate_methods, write_results
from econ.game.episode import EpisodeRunner, GameSettings
from econ.learner.callbacks import EpisodeCheckpoint, GlobalRNGCheckpoint, TrainingProgress
from econ.learner.checkpoint import check_obs_dim, load_checkpoint
from econ.learner.module import ECONModule
from econ.methods import Players, load_method
from econ.run.job import run_cli, run_job
from econ.run.loggers import build_loggers, finish_wandb, log_results
from econ.run.startup import prepare, start
from econ.run.sweep import quiet_launcher_schema_warning
from econ.run.terminal import quiet_terminal

log = logging.getLogger(__name__)
register_resolvers()
quiet_launcher_schema_warning()
quiet_terminal()


def train(cfg: DictConfig) -> dict:
    """Play and learn on the train split, checkpoint, then evaluate on `eval_split` (test or validation)."""
    settings = prepare(cfg)
    methods = [load_method(cfg, name) for name in cfg.eval_methods]  # their settings checked before any model
    if cfg.optimized_metric is not None:
        check_metric(cfg.optimized_metric, [method.name for method in methods])
    last = Path(HydraConfig.get().runtime.output_dir) / "last.ckpt"
    ckpt_path = cfg.ckpt_path or (str(last) if cfg.resume and last.exists() else None)
    # refused before any model loads; the run dir's own last.ckpt (resume) is named as such
    checkpoint = (
        load_checkpoint(ckpt_path, settings, cfg.get("allow_team_change", False), resumed=not cfg.ckpt_path)
        if ckpt_path
        else None
    )
    parts = start(cfg)
    try:
        if checkpoint is not None:
            check_obs_dim(checkpoint, parts.embedder.dim)  # known once the embedder is built
        learner = ECONModule(settings, obs_dim=parts.embedder.dim)
        if checkpoint is not None:
            learner.restore(checkpoint)
            log.info("resumed from %s after %d episodes", ckpt_path, learner.episodes_done)
        runner = EpisodeRunner(parts.team, parts.embedder, GameSettings.from_config(cfg))
        learner.attach(parts.splits.train, runner, parts.loop, parts.traces, settings.learner.max_episodes)
        loggers = build_loggers(cfg, parts.run_dir, parts.run_dir.name)
        trainer = instantiate(
            cfg.trainer,
            logger=loggers or False,
            max_epochs=1,
            enable_checkpointing=False,
            default_root_dir=str(parts.run_dir),
            callbacks=[
                EpisodeCheckpoint(last, settings.learner.checkpoint_every),
                TrainingProgress(),
                GlobalRNGCheckpoint(checkpoint),
            ],
        )
        trainer.fit(learner)
        log.info("trained on %d episodes, %d updates", learner.episodes_done, learner.updates_done)

        problems = getattr(parts.splits, cfg.eval_split)  # validated: test or validation
        players = Players(parts.client, runner, learner, parts.team)
        summaries = evaluate_methods(methods, players, parts, problems, cfg.llm.problem_concurrency)
        described = {key: value for method in methods for key, value in method.describe().items()}
        results = write_results(
            cfg,
            parts,
            summaries,
            {
                **described,
                "alpha": learner.reward_weights.alpha.tolist(),
                "train_episodes": learner.episodes_done,
                "updates": learner.updates_done,
                "checkpoint": str(last),
            },
            split=cfg.eval_split,
        )
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
    if results is None or cfg.optimized_metric is None:  # a failed job of a multirun (failed.json), or train only
        return None
    method, metric = check_metric(cfg.optimized_metric, list(results["methods"]))
    return results["methods"][method][metric]


if __name__ == "__main__":
    run_cli(main)
