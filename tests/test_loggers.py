"""Run loggers: W&B mode without prompts, sweep groups and tags, results as summary and table, metrics.csv."""

from __future__ import annotations

import csv
import struct
import time
from pathlib import Path

import pytest
import wandb
from lightning.pytorch.loggers import WandbLogger
from omegaconf import OmegaConf
from wandb.proto import wandb_internal_pb2

from econ.errors import ConfigError
from econ.run.loggers import MetricsCSV, finish_wandb, log_results, wandb_offline, wandb_settings
from econ.run.sweep import SweepJob

SUMMARY = {
    "n": 2,
    "accuracy": 0.5,
    "accuracy_ci95": [0.1, 0.9],
    "parse_rate": 1.0,
    "commitment_json_rate": 1.0,
    "mean_rounds": 2.0,
    "converged_rate": 0.5,
    "prompt_tokens": 100,
    "completion_tokens": 20,
    "tokens_per_problem": 60.0,
    "llm_calls": 8,
    "cache_hits": 0,
    "wall_s": 1.5,
}
RESULTS = {
    "methods": {"econ_no_bne": {**SUMMARY, "accuracy": 0.0}, "econ": SUMMARY},
    "dataset": "svamp",
    "n_agents": 3,
    "alpha": [0.4, 0.4, 0.2],
    "config": {"seed": 42},
    "usage": {"total": {"calls": 16}, "by_problem": {"econ:svamp:1": {"calls": 8}}},
}
LOGGER_CFG = OmegaConf.create(
    {"name": "wandb", "project": "econ", "entity": None, "group": None, "tags": ["mine"], "offline": None}
)


def wandb_records(run_dir: Path) -> list[wandb_internal_pb2.Record]:
    """The records of an offline W&B run's .wandb file (a LevelDB-style log of protobuf records)."""
    data = next(Path(run_dir).glob("*.wandb")).read_bytes()
    block, pos, pending, records = 32768, 7, b"", []  # 7-byte file header, then 32 KiB blocks
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a record header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:  # zero-filled rest of a block
            pos += block - pos % block
            continue
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def finished_run_records(run_dir: Path, timeout_s: float = 60) -> list[wandb_internal_pb2.Record]:
    """The records once the exit record is on disk: W&B's service writes the file after finish() returns."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = wandb_records(run_dir)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def item_key(item) -> str:
    """A history or summary item's metric name (W&B stores it flat or split on '/')."""
    return item.key or "/".join(item.nested_key)


def offline_run_dirs(root: Path) -> list[Path]:
    return sorted(Path(root).rglob("offline-run-*"))


@pytest.fixture
def no_wandb_key(monkeypatch, tmp_path):
    """No W&B key anywhere: not in the environment, not in ~/.netrc; WANDB_MODE unset."""
    for name in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def offline_logger(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(project="econ-test", save_dir=str(tmp_path), offline=True, name="t")
    yield logger
    finish_wandb()


def test_default_is_offline_without_a_key(no_wandb_key):
    assert wandb_offline(None) is True


def test_default_is_online_with_a_key(no_wandb_key, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert wandb_offline(None) is False


def test_wandb_mode_offline_wins_over_a_key_and_a_request(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_offline(False) is True


def test_online_without_a_key_is_refused_before_any_prompt(no_wandb_key):
    with pytest.raises(ConfigError) as error:
        wandb_offline(False)
    assert str(error.value).startswith("logger.offline=false") and "\n" not in str(error.value)


def test_single_run_uses_configured_group_and_tags():
    settings = wandb_settings(LOGGER_CFG, {"seed": 1}, "run-a", None)
    assert (settings["group"], settings["tags"], settings["name"]) == (None, ["mine"], "run-a")
    assert settings["config"] == {"seed": 1}


def test_sweep_job_is_grouped_by_sweep_and_tagged_with_its_varied_values():
    job = SweepJob(
        "svamp-2026-01-01_00-00-00",
        3,
        ("agents.n_agents=5", "bne.max_iterations_infer=3"),
        ("+experiment=svamp", "agents.n_agents=5", "bne.max_iterations_infer=3"),
        "/tmp/sweep",
    )
    settings = wandb_settings(LOGGER_CFG, {"seed": 1}, "long-run-dir-name", job)
    assert settings["group"] == "svamp-2026-01-01_00-00-00"
    assert settings["tags"] == ["mine", "agents.n_agents=5", "bne.max_iterations_infer=3"]
    assert settings["name"] == "3_agents.n_agents=5,bne.max_iterations_infer=3"
    assert settings["config"]["sweep"]["job_num"] == 3 and settings["config"]["seed"] == 1


def test_configured_group_wins_and_long_tags_are_cut_to_what_wandb_accepts():
    job = SweepJob("g", 0, ("dataset.path=" + "x" * 100,), (), "/tmp/sweep")
    settings = wandb_settings(OmegaConf.merge(LOGGER_CFG, {"group": "mine"}), {}, "r", job)
    assert settings["group"] == "mine"
    assert all(len(tag) <= 64 for tag in settings["tags"])


def test_results_become_summary_and_table(offline_logger, tmp_path):
    log_results([offline_logger], RESULTS)
    summary = dict(offline_logger.experiment.summary)
    assert summary["results/methods/econ/accuracy"] == 0.5
    assert summary["results/usage/total/calls"] == 16
    assert summary["test/econ_no_bne/accuracy"] == 0.0
    assert not any("by_problem" in key or key.startswith("results/config") for key in summary)
    finish_wandb()
    tables = list(tmp_path.rglob("media/table/results/table_*.table.json"))
    assert len(tables) == 1 and '"econ_no_bne"' in tables[0].read_text()


def test_failed_job_marks_its_wandb_run_failed_with_the_error(offline_logger, tmp_path):
    offline_logger.experiment.log({"x": 1})
    finish_wandb(ValueError("agents.n_agents=0: use a whole number >= 1\ntraceback noise"))
    assert wandb.run is None
    records = finished_run_records(offline_run_dirs(tmp_path)[0])
    assert [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"] == [1]
    errors = [
        u.value_json
        for r in records
        if r.WhichOneof("record_type") == "summary"
        for u in r.summary.update
        if item_key(u) == "error"
    ]
    assert errors == ['"agents.n_agents=0: use a whole number >= 1"']


def test_metrics_csv_keeps_rows_when_reopened(tmp_path):
    first = MetricsCSV(tmp_path / "metrics.csv")
    first.log_metrics({"train/correct": 1.0}, step=1)
    first.finalize("success")
    MetricsCSV(tmp_path / "metrics.csv").log_metrics({"train/correct": 0.0}, step=2)
    rows = list(csv.reader((tmp_path / "metrics.csv").open()))
    assert rows == [["step", "metric", "value"], ["1", "train/correct", "1.0"], ["2", "train/correct", "0.0"]]


def test_validation_results_are_logged_under_validation_not_test(tmp_path):
    metrics = MetricsCSV(tmp_path / "metrics.csv")
    log_results([metrics], {**RESULTS, "eval_split": "validation"})
    keys = {row[1] for row in csv.reader((tmp_path / "metrics.csv").open())}
    assert "validation/econ/accuracy" in keys and not any(key.startswith("test/") for key in keys)
