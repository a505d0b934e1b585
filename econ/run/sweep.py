"""Multirun sweeps: what each job varies, the launcher check before and the failed jobs named after."""

from __future__ import annotations

import importlib.util
import json
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from econ.config.redaction import redact_text
from econ.errors import ConfigError
from econ.run.job import FAILED_FILE, is_multirun, run_or_exit

T = TypeVar("T")
RESULTS_FILE = "results.json"  # written by econ.eval.results.write_results

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepJob:
    """One job of a multirun: its sweep's group name, its number and the `key=value` it varies."""

    group: str
    num: int
    varied: tuple[str, ...]
    overrides: tuple[str, ...]
    sweep_dir: str

    @property
    def name(self) -> str:
        """A short run name: the job number and its varied values."""
        return f"{self.num}_{','.join(self.varied)}" if self.varied else str(self.num)


def swept_keys(sweep_overrides: Iterable[str], sweeper_params: dict[str, Any] | None) -> set[str]:
    """Keys a sweep varies: command-line sweeps (`a=1,2`, `choice(...)`, `range(...)`) and sweeper params."""
    parsed = OverridesParser.create().parse_overrides(list(sweep_overrides))
    keys = {o.key_or_group for o in parsed if o.is_sweep_override()}
    return keys | set(sweeper_params or {})


def varied_values(job_overrides: Iterable[str], swept: set[str]) -> tuple[str, ...]:
    """This job's `key=value` for every swept key, in command-line order."""
    parsed = OverridesParser.create().parse_overrides(list(job_overrides))
    return tuple(f"{o.key_or_group}={o.value()}" for o in parsed if o.key_or_group in swept)


def current_job(task_name: str) -> SweepJob | None:
    """The running multirun job, or None for a single run.

    The command-line sweep is read from the sweep dir's multirun.yaml (Hydra's basic sweeper
    writes it before launching); sweeps declared in config come from hydra.sweeper.params.
    """
    if not is_multirun():
        return None
    hydra_cfg = HydraConfig.get()
    sweep_dir = Path(hydra_cfg.sweep.dir)
    multirun = sweep_dir / "multirun.yaml"
    command_line = OmegaConf.load(multirun).hydra.overrides.task if multirun.exists() else []
    params = OmegaConf.select(hydra_cfg, "sweeper.params")
    swept = swept_keys(command_line, OmegaConf.to_container(params) if params is not None else None)
    overrides = tuple(redact_text(o) for o in hydra_cfg.overrides.task)
    return SweepJob(
        f"{task_name}-{sweep_dir.name}",
        int(hydra_cfg.job.num),
        varied_values(overrides, swept),
        overrides,
        str(sweep_dir),
    )


def check_launcher(config: DictConfig) -> None:
    """The launcher's plugin is importable: an optional one (ray) may not be installed."""
    target = OmegaConf.select(config, "hydra.launcher._target_")
    module = str(target).rsplit(".", 1)[0]
    try:
        found = target is not None and importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        choice = OmegaConf.select(config, "hydra.runtime.choices", default={}).get("hydra/launcher")
        raise ConfigError(
            f"hydra/launcher={choice}: its plugin ({module}) is not installed; for ray: "
            "pip install -e '.[ray]'; joblib, submitit_local and submitit_slurm come with econ"
        )


class SweepMonitor(Callback):
    """Before a multirun, check the launcher plugin; after it, name the jobs that failed
    (a sweep exits 0 even when some did)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_or_exit(lambda: check_launcher(config))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        failed = sorted(sweep_dir.glob(f"*/{FAILED_FILE}"))
        if failed:
            jobs = len(list(sweep_dir.glob("*/.hydra")))
            lines = "\n".join(f"  {p.parent.name}: {json.loads(p.read_text())['error']}" for p in failed)
            log.warning("%d of %d jobs failed:\n%s", len(failed), jobs, lines)
        log.info("sweep in %s; summarise it with: python experiments/summarize_sweep.py %s", sweep_dir, sweep_dir)


def quiet_launcher_schema_warning() -> None:
    """conf/hydra/launcher/<plugin>.yaml set econ's defaults on top of the plugin's schema of the
    same name; Hydra 1.3 still merges the two but warns that the matching is deprecated."""
    warnings.filterwarnings("ignore", message=r"(?s).*'hydra/launcher/.*' is validated against ConfigStore schema")
