"""`eval_split=validation`: econ.train learns without the held-out validation problems and scores only them."""

from __future__ import annotations

import json
import os

import pytest

from econ.data.datasets import load_splits
from econ.devtools import forkrun
from econ.devtools.arithmetic import addition_responder, write_addition_problems
from econ.devtools.loopback import LoopbackServer
from econ.devtools.runs import TINY_RUN, compose_config, loopback_overrides
from econ.run.jsonl import read_jsonl

TINY = [*TINY_RUN, "logger=csv"]
METHODS = ("econ_no_bne", "econ")


@pytest.fixture(scope="module")
def validation_run(tmp_path_factory):
    """One training run on 6 train problems (3 held out for validation) and 2 test problems."""
    root = tmp_path_factory.mktemp("eval_split")
    data = write_addition_problems(root / "data", n_train=6, n_test=2, seed=5)
    dataset = ["dataset=custom", f"dataset.path='{data}'", "dataset.validation_fraction=0.5"]
    splits = load_splits(compose_config(dataset, name="train").dataset, 42)  # the run's default seed
    with LoopbackServer(responder=addition_responder) as server:
        args = [
            *loopback_overrides(server.base_url),
            *TINY,
            *dataset,
            "eval_split=validation",
            f"hydra.run.dir={root / 'run'}",
        ]
        run = forkrun.run(
            "econ.train", args, out_dir=root, env={**os.environ, "ECON_CACHE_DIR": str(root / "cache")}, name="train"
        )
    assert run.returncode == 0, run.stderr[-2000:]
    return root / "run", splits, run.stdout


def _ids(problems) -> set[str]:
    return {p.id for p in problems}


def test_training_plays_every_train_problem_and_no_validation_problem(validation_run):
    run_dir, splits, _ = validation_run
    played = {r["problem_id"] for r in read_jsonl(run_dir / "traces.jsonl") if r["kind"] == "train"}
    assert len(splits.validation) == 3 and not played & _ids(splits.validation)
    assert played == _ids(splits.train)


def test_every_method_is_scored_on_the_validation_problems_only(validation_run):
    run_dir, splits, _ = validation_run
    for method in METHODS:
        scored = {r["problem_id"] for r in read_jsonl(run_dir / f"results_{method}.jsonl")}
        assert scored == _ids(splits.validation), method


def test_results_json_and_table_name_the_validation_split(validation_run):
    run_dir, _, stdout = validation_run
    results = json.loads((run_dir / "results.json").read_text())
    assert results["eval_split"] == "validation"
    assert all(results["methods"][method]["n"] == 3 for method in METHODS)
    assert "3 validation problems" in stdout
