"""Run loggers, chosen by the `logger` group's `_target_`: metrics.csv (csv), plus W&B (wandb), or none."""

from __future__ import annotations

import csv
import logging
import netrc
import os
from pathlib import Path
from typing import Any

import wandb
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from econ.config.redaction import redacted_container
from econ.errors import ConfigError
from econ.llm.client import instantiate_config
from econ.run.job import error_line
from econ.run.jsonl import ends_mid_line
from econ.run.sweep import SweepJob, current_job

log = logging.getLogger(__name__)
MAX_TAG_LENGTH = 64  # W&B refuses longer tags
TABLE_FIELDS = (
    "n",
    "accuracy",
    "accuracy_ci95_low",
    "accuracy_ci95_high",
    "parse_rate",
    "commitment_json_rate",
    "mean_rounds",
    "converged_rate",
    "prompt_tokens",
    "completion_tokens",
    "tokens_per_problem",
    "llm_calls",
    "cache_hits",
    "cost_usd",
    "wall_s",
)


def wandb_key_available() -> bool:
    """A W&B key in the environment or in ~/.netrc (what `wandb login` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_offline(requested: bool | None) -> bool:
    """Offline unless a key exists or online was asked for; WANDB_MODE=offline always wins.

    Online without a key would stop at a login prompt (or fail on a cluster): refused up front.
    """
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun"):
        return True
    if requested is None:
        return not wandb_key_available()
    if not requested and not wandb_key_available():
        raise ConfigError(
            "logger.offline=false: no W&B key; run `wandb login` or export WANDB_API_KEY, "
            "or drop logger.offline=false to log offline and `wandb sync` later"
        )
    return bool(requested)


class MetricsCSV(Logger):
    """metrics.csv as long rows (step, metric, value), appended and flushed as they come.

    Appending (rather than Lightning's CSVLogger, which rewrites the file from memory)
    keeps the rows of a killed run and continues them when the run resumes.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        new = not self.path.exists()
        torn = ends_mid_line(self.path)
        self._file = self.path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if torn:
            self._file.write("\r\n")  # a row cut short (kill, full disk) stays alone on its line
        if new:
            self._writer.writerow(["step", "metric", "value"])

    @property
    def name(self) -> str:
        return "metrics_csv"

    @property
    def version(self) -> str:
        return ""

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The resolved config is saved beside it as config_resolved.yaml."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        for metric, value in metrics.items():
            self._writer.writerow([step, metric, float(value)])
        self._file.flush()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self._file.flush()


def wandb_settings(
    logger_cfg: DictConfig, config: dict[str, Any], run_name: str, job: SweepJob | None
) -> dict[str, Any]:
    """WandbLogger arguments: a sweep's jobs share a group and are tagged with the values they vary."""
    settings = {
        "project": logger_cfg.project,
        "entity": logger_cfg.entity,
        "group": logger_cfg.group,
        "tags": list(logger_cfg.tags),
        "name": run_name,
        "config": config,
    }
    if job is not None:
        settings.update(
            group=logger_cfg.group or job.group,
            tags=[*logger_cfg.tags, *job.varied],
            name=job.name,
            config={
                **config,
                "sweep": {
                    "group": job.group,
                    "dir": job.sweep_dir,
                    "job_num": job.num,
                    "varied": list(job.varied),
                    "overrides": list(job.overrides),
                },
            },
        )
    settings["tags"] = [tag[:MAX_TAG_LENGTH] for tag in settings["tags"]]
    return settings


def csv_loggers(run_dir: Path, config: dict[str, Any], run_name: str, name: str = "csv") -> list[Logger]:
    """`logger=csv`: metrics.csv only."""
    return [MetricsCSV(Path(run_dir) / "metrics.csv")]


def no_loggers(run_dir: Path, config: dict[str, Any], run_name: str, name: str = "none") -> list[Logger]:
    """`logger=none`: nothing beyond results.json and the traces."""
    return []


def wandb_loggers(
    run_dir: Path,
    config: dict[str, Any],
    run_name: str,
    name: str = "wandb",
    project: str = "econ",
    entity: str | None = None,
    group: str | None = None,
    tags: list[str] = (),
    offline: bool | None = None,
) -> list[Logger]:
    """`logger=wandb`: metrics.csv and a W&B run (offline without a key); a sweep's jobs share a group."""
    logger_cfg = OmegaConf.create(
        {"project": project, "entity": entity, "group": group, "tags": [*tags, *_team_tags(config)]}
    )
    offline = wandb_offline(offline)
    if offline:
        os.environ["WANDB_MODE"] = "offline"  # never prompt for a login
    settings = wandb_settings(logger_cfg, config, run_name, current_job(_task_name(config)))
    job_type = HydraConfig.get().job.name if HydraConfig.initialized() else None  # train / evaluate
    run_dir = Path(run_dir)
    wandb_logger = WandbLogger(save_dir=str(run_dir), offline=offline, job_type=job_type, **settings)
    log.info(
        "W&B %s run %s (group %s) in %s",
        "offline" if offline else "online",
        settings["name"],
        settings["group"],
        run_dir / "wandb",
    )
    return [MetricsCSV(run_dir / "metrics.csv"), wandb_logger]


def _team_tags(config: dict[str, Any]) -> list[str]:
    """Tags naming the team of a run with `coordinator=` or `+team=` (a default run's tags stay as they were)."""
    from econ.llm.team import describe_team, is_default_team, team_tags

    cfg = OmegaConf.create(config)
    return [] if is_default_team(cfg) else team_tags(describe_team(cfg))


def _task_name(config: dict[str, Any]) -> str:
    return str(config.get("task_name", "econ"))


def build_loggers(cfg: DictConfig, run_dir: Path, run_name: str) -> list[Logger]:
    """The loggers of the `logger` group's `_target_`; the config given to them is already redacted."""
    make = instantiate_config(cfg.logger, _partial_=True)  # run-time arguments are passed as they are, not as config
    return make(run_dir=run_dir, config=redacted_container(cfg), run_name=run_name)


def flatten(node: Any, prefix: str) -> dict[str, Any]:
    """Nested dicts as one level of `a/b/c` keys (lists stay values)."""
    if not isinstance(node, dict):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    return flat


def results_table(results: dict[str, Any]) -> wandb.Table:
    """One row per evaluated method with the numbers of results.json."""
    columns = ["method", *TABLE_FIELDS]
    rows = []
    for method, summary in results["methods"].items():
        low, high = summary["accuracy_ci95"]
        values = {**summary, "accuracy_ci95_low": low, "accuracy_ci95_high": high}
        rows.append([method, *(values.get(field) for field in TABLE_FIELDS)])  # cost_usd: runs before teams lack it
    return wandb.Table(columns=columns, data=rows)


def log_results(loggers: list[Logger], results: dict[str, Any]) -> None:
    """The final results on every logger as <eval_split>/<method>/<metric>; on W&B also the run summary
    (results.json without the config and the per-problem usage) and a `results/table` table."""
    split = results.get("eval_split", "test")
    metrics = {
        f"{split}/{method}/{key}": value
        for method, summary in results["methods"].items()
        for key, value in summary.items()
        if isinstance(value, (int, float))
    }
    for logger in loggers:
        logger.log_metrics(metrics)
        if isinstance(logger, WandbLogger):
            usage = {k: v for k, v in results.get("usage", {}).items() if k != "by_problem"}
            summary = {**{k: v for k, v in results.items() if k not in ("config", "usage")}, "usage": usage}
            logger.experiment.summary.update(flatten(summary, "results"))
            logger.experiment.log({"results/table": results_table(results)})


def finish_wandb(error: BaseException | None = None) -> None:
    """Close the W&B run so the next job of a multirun starts its own; a job that raised is marked failed."""
    if wandb.run is None:
        return
    if error is not None:
        wandb.run.summary["error"] = error_line(error)
    wandb.finish(exit_code=1 if error is not None else 0)
