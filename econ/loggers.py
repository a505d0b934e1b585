"""Run loggers: metrics.csv always, W&B online/offline when `logger=wandb`, nothing else on `none`."""

from __future__ import annotations

import csv
import logging
import netrc
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def wandb_key_available() -> bool:
    """A W&B key in the environment or in ~/.netrc (what `wandb login` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_offline(requested: bool | None) -> bool:
    """Offline unless online was asked for or a key exists; WANDB_MODE=offline always wins."""
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun"):
        return True
    if requested is not None:
        return bool(requested)
    return not wandb_key_available()


class MetricsCSV(Logger):
    """metrics.csv as long rows (step, metric, value), appended and flushed as they come.

    Appending (rather than Lightning's CSVLogger, which rewrites the file from memory)
    keeps the rows of a killed run and continues them when the run resumes.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        new = not self.path.exists()
        self._file = self.path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
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


def build_loggers(cfg: DictConfig, run_dir: Path, config: dict[str, Any], run_name: str) -> list[Logger]:
    """The loggers for a run; the config given to W&B is already redacted."""
    loggers: list[Logger] = []
    if cfg.logger.name == "none":
        return loggers
    loggers.append(MetricsCSV(run_dir / "metrics.csv"))
    if cfg.logger.name == "wandb":
        offline = wandb_offline(cfg.logger.offline)
        if offline:
            os.environ["WANDB_MODE"] = "offline"  # never prompt for a login
        loggers.append(WandbLogger(
            project=cfg.logger.project, entity=cfg.logger.entity, group=cfg.logger.group,
            tags=list(cfg.logger.tags), name=run_name, save_dir=str(run_dir), offline=offline, config=config,
        ))
        log.info("W&B %s run in %s", "offline" if offline else "online", run_dir / "wandb")
    return loggers


def finish_wandb() -> None:
    """Close the W&B run so the next job of a multirun starts its own."""
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.finish()
