"""Start-up of a run: env file, config check, write places and cache files checked, resolved config saved, seeds,
data, LLM client and embedder."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from econ.config.redaction import save_resolved_config
from econ.config.settings import Settings, load_settings
from econ.config.validate import validate
from econ.data.datasets import Splits, load_splits
from econ.embed import Embedder, build_embedder
from econ.llm.client import LLMClient
from econ.llm.team import Team, build_team
from econ.run.envfile import load_env_file
from econ.run.inputs import check_caches
from econ.run.jsonl import JsonlLog
from econ.run.usage import RunUsageTracker
from econ.run.writable import probe_run_outputs


@dataclass
class Components:
    """Everything a run plays with, built and checked before the first LLM call."""

    run_dir: Path
    splits: Splits
    team: Team  # the coordinator's and each executor's client, each model built once
    embedder: Embedder
    loop: asyncio.AbstractEventLoop
    traces: JsonlLog
    usage: RunUsageTracker  # the team's tracker; also logs to usage.jsonl for the whole run's totals

    @property
    def client(self) -> LLMClient:
        """The coordinator's client (every role's without `coordinator=` and `+team=`)."""
        return self.team.coordinator

    def close(self) -> None:
        self.loop.run_until_complete(self.team.aclose())
        self.loop.close()
        self.traces.close()
        self.usage.close()


def prepare(cfg: DictConfig) -> Settings:
    """Keys from the env file, every config value checked, the typed settings: before anything loads."""
    load_env_file()  # keys from ECON_ENV_FILE, before anything reads or redacts them
    validate(cfg)
    return load_settings(cfg)


def start(cfg: DictConfig) -> Components:
    """Probe the places the run writes, check the cache files, save the (prepared) config redacted, seed,
    load data and build the team's LLM clients and the embedder."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    probe_run_outputs(cfg, run_dir)  # run dir, its logs, cache dirs, W&B dir: writable, by writing
    check_caches(cfg)  # cache files are sqlite of this version (read-only check)
    save_resolved_config(cfg, run_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_num_threads(cfg.learner.torch_threads)
    splits = load_splits(cfg.dataset, cfg.seed)
    usage = RunUsageTracker(run_dir / "usage.jsonl")
    team = build_team(cfg, usage)  # an unreachable server or a missing key fails now, naming its role's key
    embedder = build_embedder(cfg.embedder)
    loop = asyncio.new_event_loop()
    return Components(run_dir, splits, team, embedder, loop, JsonlLog(run_dir / "traces.jsonl"), usage)
