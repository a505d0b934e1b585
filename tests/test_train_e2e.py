"""End to end on the embedded model: train, checkpoint, resume, evaluate, write results.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from econ.run.jsonl import read_jsonl

TINY = [
    "+experiment=svamp",
    "model=local",
    "logger=csv",
    "dataset.limit=2",
    "agents.n_agents=2",
    "agents.belief_dim=16",
    "agents.entity_dim=32",
    "agents.n_blocks=1",
    "agents.max_tokens_strategy=16",
    "agents.max_tokens_executor=32",
    "agents.max_tokens_commitment=32",
    "bne.max_iterations_infer=2",
    "learner.update_interval=1",
    "learner.batch_size=2",
]
RESULT_FIELDS = (
    "accuracy",
    "n",
    "parse_rate",
    "commitment_json_rate",
    "mean_rounds",
    "converged_rate",
    "stop_reasons",
    "best_response_gap",
    "prompt_tokens",
    "completion_tokens",
    "llm_calls",
    "wall_s",
)


def _run(module: str, args: list[str], cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ECON_CACHE_DIR": str(cache), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=Path(__file__).resolve().parents[1],
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run stopped after one episode, then resumed by the same command to two episodes."""
    root = tmp_path_factory.mktemp("e2e")
    run_dir, cache = root / "run", root / "cache"
    first = _run("econ.train", [*TINY, "learner.max_episodes=1", f"hydra.run.dir={run_dir}"], cache)
    assert first.returncode == 0, first.stderr[-2000:]
    second = _run("econ.train", [*TINY, "learner.max_episodes=2", f"hydra.run.dir={run_dir}"], cache)
    assert second.returncode == 0, second.stderr[-2000:]
    return run_dir, cache


def test_training_resumes_without_repeating_an_episode(trained_run):
    run_dir, _ = trained_run
    episodes = [r["episode"] for r in read_jsonl(run_dir / "traces.jsonl") if r["kind"] == "train"]
    assert episodes == [1, 2]


def test_results_json_has_every_field_for_baseline_and_bne(trained_run):
    run_dir, _ = trained_run
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results["methods"]) == {"econ_no_bne", "econ"}
    for summary in results["methods"].values():
        for field in RESULT_FIELDS:
            assert field in summary
        assert summary["n"] == 2
    assert abs(sum(results["alpha"]) - 1) < 1e-6
    assert (run_dir / "last.ckpt").exists() and (run_dir / "metrics.csv").exists()


def test_results_json_states_the_sampling_and_the_paired_difference_with_econ(trained_run):
    run_dir, _ = trained_run
    methods = json.loads((run_dir / "results.json").read_text())["methods"]
    for summary in methods.values():
        for name in ("temperature", "penalty"):
            s = summary["sampling"][name]
            assert 0.1 <= s["min"] <= s["mean"] <= s["max"] <= (2.0 if name == "temperature" else 0.9)
    paired = methods["econ_no_bne"]["vs_econ"]
    assert paired["reference"] == "econ" and paired["n"] == 2
    assert paired["ci95"][0] <= paired["difference"] <= paired["ci95"][1] and 0 <= paired["mcnemar_p"] <= 1
    assert "vs_econ" not in methods["econ"]


def test_traces_show_executors_acting_within_bounds(trained_run):
    run_dir, _ = trained_run
    rounds = [rd for r in read_jsonl(run_dir / "traces.jsonl") for rd in r["rounds"]]
    assert rounds
    for record in rounds:
        for temperature, penalty in record["actions"]:
            assert 0.1 <= temperature <= 2.0 and 0.1 <= penalty <= 0.9


def test_round0_actions_depend_on_the_problem(trained_run):
    run_dir, _ = trained_run
    evals = [r for r in read_jsonl(run_dir / "traces.jsonl") if r["kind"] == "eval" and r["method"] == "econ"]
    first_actions = {r["problem_id"]: r["rounds"][0]["actions"][0][0] for r in evals}
    assert len(first_actions) == 2 and abs(max(first_actions.values()) - min(first_actions.values())) >= 0.02


def test_evaluate_loads_checkpoint_and_rerun_costs_no_calls(trained_run, tmp_path):
    run_dir, cache = trained_run
    args = [
        "+experiment=svamp",
        "model=local",
        "logger=csv",
        "dataset.limit=2",
        "agents.n_agents=2",
        "agents.belief_dim=16",
        "agents.entity_dim=32",
        "agents.n_blocks=1",
        "agents.max_tokens_strategy=16",
        "agents.max_tokens_executor=32",
        "agents.max_tokens_commitment=32",
        "method=econ_no_bne",
        f"ckpt_path={run_dir / 'last.ckpt'}",
        f"hydra.run.dir={tmp_path / 'eval'}",
    ]
    done = _run("econ.evaluate", args, cache)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["methods"]["econ_no_bne"]["n"] == 2
    # the training run evaluated the same problems with the same checkpoint: all cached
    assert results["usage"]["total"]["calls"] == 0


def test_checkpoint_from_other_n_agents_is_refused(trained_run, tmp_path):
    run_dir, cache = trained_run
    done = _run(
        "econ.evaluate",
        [
            "+experiment=svamp",
            "model=local",
            "agents.n_agents=3",
            "agents.belief_dim=16",
            "agents.entity_dim=32",
            "agents.n_blocks=1",
            f"ckpt_path={run_dir / 'last.ckpt'}",
            f"hydra.run.dir={tmp_path / 'x'}",
        ],
        cache,
    )
    assert done.returncode != 0
    assert "agents.n_agents=3" in done.stderr and "Traceback" not in done.stderr
