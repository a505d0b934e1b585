"""Multirun sweeps: configs compose, jobs log to their own W&B runs, failures are recorded, launchers run."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict
from test_loggers import finished_run_records, item_key, offline_run_dirs

from econ.config.resolvers import register_resolvers
from econ.config.validate import validate
from econ.devtools.loopback import LoopbackServer
from econ.errors import ConfigError
from econ.eval.report import check_metric
from econ.run.sweep import check_launcher, current_job, swept_keys, varied_values

# conf/hydra/launcher/*.yaml extend the plugins' schemas of the same name (see econ.sweep)
pytestmark = pytest.mark.filterwarnings("ignore:(?s).*is validated against ConfigStore schema:UserWarning")
ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
LAUNCHERS = sorted(p.stem for p in (CONF / "hydra" / "launcher").glob("*.yaml"))
SEARCHES = sorted(p.stem for p in (CONF / "hparams_search").glob("*.yaml"))
SECRET = "sk-sweep-test-0123456789abcdef"
TINY = [
    "+experiment=svamp",
    "model=openai_compatible",
    "model.model=loopback",
    "agents.entity_dim=32",
    "agents.n_blocks=1",
    "dataset.limit=2",
    "learner.update_interval=1",
    "learner.batch_size=2",
]


def _compose(overrides: list[str]):
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


def _multirun(
    server: LoopbackServer,
    sweep_dir: Path,
    args: list[str],
    *,
    env: dict | None = None,
    script: list[str] | None = None,
) -> subprocess.CompletedProcess:
    """`python -m econ.train -m ...` against the loopback server, with no W&B key and no stdin."""
    run_env = {key: value for key, value in os.environ.items() if key not in ("WANDB_API_KEY", "WANDB_MODE")}
    run_env.update(
        ECON_CACHE_DIR=str(sweep_dir.parent / "cache"),
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        WANDB_SILENT="true",
        PYTHONPATH=str(ROOT),
        **(env or {}),
    )
    command = script or [
        "-m",
        "econ.train",
        "-m",
        *TINY,
        f"model.base_url={server.base_url}",
        f"hydra.sweep.dir={sweep_dir}",
        *args,
    ]
    return subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        env=run_env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def _job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted((p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()), key=lambda p: int(p.name.split("_")[0]))


@pytest.fixture(scope="module")
def server():
    """One loopback server for the module: it must outlive every sweep subprocess."""
    with LoopbackServer() as loopback:
        yield loopback


@pytest.fixture
def hydra_job(tmp_path):
    """Make HydraConfig describe job 1 of a multirun in tmp_path (as a launcher would)."""

    def make(task_overrides: list[str], command_line: list[str], sweeper_params: dict | None = None):
        cfg = _compose([])
        with open_dict(cfg):
            cfg.hydra.mode = "MULTIRUN"
            cfg.hydra.job.num = 1
            cfg.hydra.sweep.dir = str(tmp_path / "2026-01-01_00-00-00")
            cfg.hydra.overrides.task = task_overrides
            cfg.hydra.sweeper.params = sweeper_params
        Path(cfg.hydra.sweep.dir).mkdir()
        OmegaConf.save({"hydra": {"overrides": {"task": command_line}}}, Path(cfg.hydra.sweep.dir) / "multirun.yaml")
        HydraConfig.instance().set_config(cfg)

    yield make
    HydraConfig.instance().cfg = None


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_every_launcher_config_composes(launcher):
    cfg = _compose([f"hydra/launcher={launcher}"])
    assert launcher.split("_")[0] in cfg.hydra.launcher._target_.lower()


def test_launcher_defaults_suit_llm_bound_jobs():
    assert _compose(["hydra/launcher=joblib"]).hydra.launcher.n_jobs == 4
    slurm = _compose(["hydra/launcher=submitit_slurm"]).hydra.launcher
    assert slurm.timeout_min == 240 and slurm.submitit_folder.endswith(".submitit/%j")


@pytest.mark.parametrize("search", SEARCHES)
def test_every_hparams_search_composes(search):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweeper = _compose(["+experiment=svamp", f"+hparams_search={search}"]).hydra.sweeper
    assert "optuna" in sweeper._target_.lower() and sweeper.direction == "maximize"
    assert {"agents.belief_dim", "learner.lr", "reward.lambda_sd", "learner.exploration_sigma"} <= set(sweeper.params)


@pytest.mark.parametrize("search", SEARCHES)
def test_every_hparams_search_tunes_on_validation_not_test(search):
    # read without composing, so it runs where the optuna sweeper plugin is not installed
    search_cfg = OmegaConf.load(CONF / "hparams_search" / f"{search}.yaml")
    assert search_cfg.eval_split == "validation" and 0 < search_cfg.dataset.validation_fraction < 1
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "+experiment=svamp",
                f"eval_split={search_cfg.eval_split}",
                f"dataset.validation_fraction={search_cfg.dataset.validation_fraction}",
            ],
        )
    validate(cfg)  # the pair is accepted before any LLM call


def test_experiment_declares_its_own_sweep():
    cfg = _compose(["+experiment=svamp_scaling"])
    assert cfg.hydra.sweeper.params == {"agents.n_agents": "2,3,5,8"} and cfg.task_name == "svamp_scaling"


def test_missing_launcher_plugin_is_a_one_line_error():
    cfg = _compose(["hydra/launcher=ray", "hydra.launcher._target_=hydra_plugins.not_installed.RayLauncher"])
    with pytest.raises(ConfigError) as error:
        check_launcher(cfg)
    assert str(error.value).startswith("hydra/launcher=ray") and "\n" not in str(error.value)


def test_swept_keys_come_from_command_line_sweeps_and_sweeper_params():
    keys = swept_keys(
        [
            "agents.n_agents=2,3",
            "bne.max_iterations_infer=range(1,3)",
            "+experiment=svamp",
            "agents.belief_dim=choice(64,128)",
        ],
        {"learner.lr": "tag(log, interval(0.0001, 0.01))"},
    )
    assert keys == {"agents.n_agents", "bne.max_iterations_infer", "agents.belief_dim", "learner.lr"}


def test_varied_values_are_this_jobs_values_of_swept_keys():
    job = ["+experiment=svamp", "agents.n_agents=3", "dataset.limit=2", "bne.max_iterations_infer=1"]
    assert varied_values(job, {"agents.n_agents", "bne.max_iterations_infer"}) == (
        "agents.n_agents=3",
        "bne.max_iterations_infer=1",
    )


def test_current_job_names_the_sweep_and_masks_secrets(hydra_job, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    hydra_job(
        ["+experiment=svamp", f"model.base_url=http://h/{SECRET}", "agents.n_agents=3", "learner.lr=0.01"],
        ["+experiment=svamp", f"model.base_url=http://h/{SECRET}", "agents.n_agents=2,3"],
        {"learner.lr": "interval(0.0001, 0.01)"},
    )
    job = current_job("svamp")
    assert job.group == "svamp-2026-01-01_00-00-00" and job.num == 1
    assert job.varied == ("agents.n_agents=3", "learner.lr=0.01")
    assert SECRET not in json.dumps(job.overrides) and "***" in json.dumps(job.overrides)


def test_single_run_is_not_a_sweep_job():
    assert current_job("svamp") is None


@pytest.fixture(scope="module")
def wandb_sweep(server, tmp_path_factory):
    """A 2 x 2 multirun (belief_dim x BNE rounds) with the default W&B mode, no W&B key anywhere
    (a fresh HOME, no stdin: a login prompt would hang it) and an LLM key in the environment."""
    root = tmp_path_factory.mktemp("wandb_sweep")
    home = root / "home"
    home.mkdir()
    sweep_dir = root / "sweep"
    args = ["logger=wandb", "agents.n_agents=2", "agents.belief_dim=16,32", "bne.max_iterations_infer=1,2"]
    done = _multirun(server, sweep_dir, args, env={"HOME": str(home), "OPENAI_API_KEY": SECRET})
    assert done.returncode == 0, done.stderr[-3000:]
    return sweep_dir


def test_wandb_sweep_gives_each_job_its_own_offline_run_and_results(wandb_sweep):
    jobs = _job_dirs(wandb_sweep)
    assert len(jobs) == 4
    for job in jobs:
        assert (job / "results.json").exists()
        assert len(offline_run_dirs(job / "wandb")) == 1


def test_wandb_runs_share_the_sweep_group_and_carry_their_values_as_tags(wandb_sweep):
    runs = []
    for job in _job_dirs(wandb_sweep):
        records = finished_run_records(offline_run_dirs(job / "wandb")[0])
        run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
        exit_codes = [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"]
        history_keys = {
            item_key(item) for r in records if r.WhichOneof("record_type") == "history" for item in r.history.item
        }
        config_keys = {item_key(item) for item in run.config.update}  # the config given to wandb.init
        assert run.job_type == "train" and {"agents", "bne", "sweep"} <= config_keys
        runs.append((run.run_group, tuple(run.tags), exit_codes, history_keys))
    assert {group for group, *_ in runs} == {"svamp-sweep"}
    assert sorted(tags for _, tags, *_ in runs) == [
        (f"agents.belief_dim={b}", f"bne.max_iterations_infer={k}") for b in (16, 32) for k in (1, 2)
    ]
    for _, _, exit_codes, history_keys in runs:
        assert exit_codes == [0]
        assert {"train/correct", "test/econ/accuracy"} <= history_keys  # streamed per episode, then the results


def test_the_api_key_reaches_no_file_of_the_sweep(wandb_sweep):
    files = [path for path in wandb_sweep.rglob("*") if path.is_file()]
    assert any("wandb" in path.parts for path in files)
    assert not [path for path in files if SECRET.encode() in path.read_bytes()]


def test_summarize_sweep_draws_the_belief_by_rounds_heatmap(wandb_sweep, tmp_path):
    done = _multirun(
        None, wandb_sweep, [], script=["experiments/summarize_sweep.py", str(wandb_sweep), "--out", str(tmp_path)]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader((tmp_path / "sweep_summary.csv").open()))
    assert len(rows) == 8 and {row["status"] for row in rows} == {"done"}
    for name in ("heatmap_belief_dim_x_bne_rounds_infer.png", "vs_belief_dim.png", "vs_bne_rounds_infer.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def failing_sweep(server, tmp_path_factory):
    """Three jobs over n_agents, the last with an invalid value."""
    sweep_dir = tmp_path_factory.mktemp("failing_sweep") / "sweep"
    done = _multirun(server, sweep_dir, ["logger=csv", "agents.belief_dim=16", "agents.n_agents=2,3,0"])
    return sweep_dir, done


def test_failed_job_is_recorded_and_the_sweep_goes_on(failing_sweep):
    sweep_dir, done = failing_sweep
    assert done.returncode == 0, done.stderr[-3000:]
    first, second, third = _job_dirs(sweep_dir)
    assert (first / "results.json").exists() and (second / "results.json").exists()
    failure = json.loads((third / "failed.json").read_text())
    assert failure["error"].startswith("agents.n_agents=0") and failure["type"] == "ConfigError"
    assert "1 of 3 jobs failed" in done.stdout + done.stderr


def test_summarize_sweep_plots_against_n_agents_and_lists_the_failure(failing_sweep, tmp_path):
    sweep_dir, _ = failing_sweep
    done = _multirun(
        None, sweep_dir, [], script=["experiments/summarize_sweep.py", str(sweep_dir), "--out", str(tmp_path)]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader((tmp_path / "sweep_summary.csv").open()))
    assert [row["status"] for row in rows] == ["done"] * 4 + ["failed"]
    assert rows[-1]["error"].startswith("agents.n_agents=0")
    assert (tmp_path / "vs_n_agents.png").read_bytes()[:4] == b"\x89PNG"


def test_summarize_sweep_refuses_a_dir_without_jobs(tmp_path):
    done = _multirun(None, tmp_path, [], script=["experiments/summarize_sweep.py", str(tmp_path)])
    assert done.returncode == 2 and "no job dirs" in done.stderr and "Traceback" not in done.stderr


def test_joblib_runs_two_jobs_at_once_sharing_one_sqlite_cache(server, tmp_path):
    sweep_dir = tmp_path / "sweep"
    done = _multirun(
        server,
        sweep_dir,
        [
            "logger=csv",
            "agents.belief_dim=16",
            "agents.n_agents=2,3",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
        ],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    spans = []
    for job in _job_dirs(sweep_dir):
        start = (job / ".hydra" / "config.yaml").stat().st_mtime
        spans.append((start, (job / "results.json").stat().st_mtime))
    (start_a, end_a), (start_b, end_b) = spans
    assert start_a < end_b and start_b < end_a  # the two jobs overlapped in time
    cache = sqlite3.connect(tmp_path / "cache" / "llm.sqlite")
    assert cache.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert cache.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert cache.execute("SELECT COUNT(*) FROM completions").fetchone()[0] > 0


def test_submitit_local_runs_a_job(server, tmp_path):
    sweep_dir = tmp_path / "sweep"
    done = _multirun(
        server, sweep_dir, ["logger=csv", "agents.belief_dim=16", "agents.n_agents=2", "hydra/launcher=submitit_local"]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (job,) = _job_dirs(sweep_dir)
    assert json.loads((job / "results.json").read_text())["n_agents"] == 2
    assert list((sweep_dir / ".submitit").glob("*/*_log.out"))


@pytest.mark.slow
def test_ray_launcher_runs_two_jobs(server, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    sweep_dir = tmp_path / "sweep"
    done = _multirun(
        server,
        sweep_dir,
        [
            "logger=csv",
            "agents.belief_dim=16",
            "agents.n_agents=2,3",
            "hydra/launcher=ray",
            "hydra.launcher.ray.init.num_cpus=2",
        ],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert all((job / "results.json").exists() for job in _job_dirs(sweep_dir))


@pytest.mark.slow
def test_optuna_search_runs_trials_and_reports_the_best(server, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep_dir = tmp_path / "sweep"
    done = _multirun(
        server,
        sweep_dir,
        [
            "logger=csv",
            "agents.n_agents=2",
            "+hparams_search=econ_optuna",
            "hydra.sweeper.n_trials=2",
            "agents.belief_dim=16",
        ],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_job_dirs(sweep_dir)) == 2
    assert all(
        json.loads((job / "results.json").read_text())["eval_split"] == "validation" for job in _job_dirs(sweep_dir)
    )
    assert "best_value" in OmegaConf.load(sweep_dir / "optimization_results.yaml")


def test_sweep_plots_name_the_split_their_jobs_scored():
    import pandas as pd

    from experiments.summarize_sweep import accuracy_label

    assert accuracy_label(pd.DataFrame({"eval_split": ["validation", "validation"]})) == "validation accuracy"
    assert accuracy_label(pd.DataFrame({"eval_split": ["test"]})) == "test accuracy"
    assert "mixed" in accuracy_label(pd.DataFrame({"eval_split": ["test", "validation"]}))


def test_evaluate_sweep_records_a_failed_job_and_goes_on(server, tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [
        "-m",
        "econ.evaluate",
        "-m",
        *TINY,
        f"model.base_url={server.base_url}",
        f"hydra.sweep.dir={sweep_dir}",
        "method=single",
        "logger=csv",
        "method.samples=1,0",
    ]
    done = _multirun(server, sweep_dir, [], script=command)
    assert done.returncode == 0, done.stderr[-3000:]
    ok, failed = _job_dirs(sweep_dir)
    assert (ok / "results.json").exists() and (ok / "metrics.csv").exists()  # evaluate logs like train
    failure = json.loads((failed / "failed.json").read_text())
    assert failure["error"].startswith("method.samples=0") and failure["type"] == "ConfigError"
    assert "1 of 2 jobs failed" in done.stdout + done.stderr


@pytest.mark.parametrize("metric", ["econ/nosuch", "nosuch/accuracy", "accuracy"])
def test_an_unknown_optimized_metric_is_a_one_line_error(metric):
    with pytest.raises(ConfigError, match=rf"^optimized_metric={metric}: use <method>/<metric>") as error:
        check_metric(metric, ["econ_no_bne", "econ"])
    assert "\n" not in str(error.value)


def test_the_optimized_metric_names_a_method_and_one_of_its_numbers():
    assert check_metric(_compose([]).optimized_metric, ["econ_no_bne", "econ"]) == ("econ", "accuracy")
    assert check_metric("econ_no_bne/tokens_per_problem", ["econ_no_bne", "econ"]) == (
        "econ_no_bne",
        "tokens_per_problem",
    )


def test_a_sweep_over_the_coordinator_runs_each_team_and_tags_its_wandb_run(server, tmp_path):
    """`coordinator=openai_compatible,local`: one job per team; keys for the server option come with `++`
    (the local backend, which takes none of them, ignores them)."""
    import torch

    home = tmp_path / "home"
    home.mkdir()
    sweep_dir = tmp_path / "sweep"
    with LoopbackServer() as coordinator_server:
        args = [
            "logger=wandb",
            "agents.n_agents=2",
            "agents.belief_dim=16",
            "bne.max_iterations_infer=1",
            "agents.max_tokens_strategy=8",
            "agents.max_tokens_commitment=48",
            "coordinator=openai_compatible,local",
            "++coordinator.model=loopback-b",
            f"++coordinator.base_url={coordinator_server.base_url}",
        ]
        done = _multirun(server, sweep_dir, args, env={"HOME": str(home)})
        assert done.returncode == 0, done.stderr[-3000:]
        assert {body["model"] for body in coordinator_server.chat_requests()} == {"loopback-b"}
    coordinators = {
        "openai_compatible": "openai_compatible/loopback-b",
        "local": "local/SmolLM2-135M-Instruct.Q4_1.gguf",
    }
    jobs = _job_dirs(sweep_dir)
    assert len(jobs) == 2
    for job, (choice, label) in zip(jobs, coordinators.items()):
        results = json.loads((job / "results.json").read_text())
        assert results["team"]["coordinator"] == label
        assert results["team"]["executors"] == ["openai_compatible/loopback"] * 2
        assert set(results["usage"]["by_model"]) == {label, "openai_compatible/loopback"}
        assert set(results["usage"]["by_model"][label]["by_role"]) == {"coordinator"}
        checkpoint = torch.load(job / "last.ckpt", map_location="cpu", weights_only=False)
        assert checkpoint["hyper_parameters"]["econ"]["team"]["coordinator"] == label
        records = finished_run_records(offline_run_dirs(job / "wandb")[0])
        run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
        assert f"coordinator={choice}" in run.tags and f"coordinator:{label}"[:64] in run.tags
        assert "executors:openai_compatible/loopback" in run.tags
