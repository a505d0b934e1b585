"""`python -m econ.evaluate method=econ ckpt_path=...`, `method=econ_fixed_action` or `method=single|self_consistency|mad`.

evaluate(cfg) reads top to bottom: prepare → build the method → load the checkpoint it needs → start →
evaluate on the test split → write results; `-m` sweeps record a failed job in failed.json and go on.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from econ.config.resolvers import register_resolvers
from econ.errors import ConfigError
from econ.eval.results import evaluate_methods, write_results
from econ.game.episode import EpisodeRunner, GameSettings
from econ.learner.checkpoint import check_obs_dim, load_checkpoint
from econ.learner.module import ECONModule
from econ.methods import Players, build_method
from econ.run.job import run_cli, run_job
from econ.run.loggers import build_loggers, finish_wandb, log_results
from econ.run.startup import prepare, start
from econ.run.sweep import quiet_launcher_schema_warning
from econ.run.terminal import quiet_terminal

log = logging.getLogger(__name__)
register_resolvers()
quiet_launcher_schema_warning()
quiet_terminal()


def evaluate(cfg: DictConfig) -> dict:
    """One method on the test split; a learned one plays the policy of `ckpt_path`."""
    settings = prepare(cfg)
    method = build_method(cfg.method)  # its settings and budget are checked before any model loads
    checkpoint = None
    if method.needs_checkpoint:
        if not cfg.ckpt_path:
            raise ConfigError("ckpt_path: give the checkpoint to evaluate, e.g. ckpt_path=outputs/svamp/.../last.ckpt")
        checkpoint = load_checkpoint(
            cfg.ckpt_path, settings, cfg.get("allow_team_change", False)
        )  # refused before any model is loaded or called
    parts = start(cfg)
    try:
        learner, extra = None, dict(method.describe())
        if checkpoint is not None:
            check_obs_dim(checkpoint, parts.embedder.dim)  # known once the embedder is built
            learner = ECONModule(settings, obs_dim=parts.embedder.dim)
            learner.restore(checkpoint)
            extra.update(
                alpha=learner.reward_weights.alpha.tolist(),
                checkpoint=str(cfg.ckpt_path),
                train_episodes=learner.episodes_done,
                updates=learner.updates_done,
            )
        loggers = build_loggers(cfg, parts.run_dir, parts.run_dir.name)
        runner = EpisodeRunner(parts.team, parts.embedder, GameSettings.from_config(cfg))
        players = Players(parts.client, runner, learner, parts.team)
        summaries = evaluate_methods([method], players, parts, parts.splits.test, cfg.llm.problem_concurrency)
        results = write_results(cfg, parts, summaries, extra)
        log_results(loggers, results)
        return results
    except BaseException as error:
        finish_wandb(error)
        raise
    finally:
        finish_wandb()
        parts.close()


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> float | None:
    results = run_job(lambda: evaluate(cfg))
    return None if results is None else results["methods"][cfg.method.name]["accuracy"]


if __name__ == "__main__":
    run_cli(main)
