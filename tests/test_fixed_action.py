"""Entry points: ECON's protocol at a fixed action needs no checkpoint, and flipping commitments never converge."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from econ.devtools.runs import loopback_overrides, write_untrained_checkpoint
from econ.run.jsonl import read_jsonl

REPO = Path(__file__).resolve().parents[1]
SMALL = ["agents.belief_dim=16", "agents.entity_dim=32", "agents.n_blocks=1", "dataset.limit=2", "logger=csv"]


def run(module: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ECON_CACHE_DIR": str(tmp_path / "cache"), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class FlippingCoordinator:
    """Executors answer 51; the coordinator's JSON commitment alternates 51, 101, 51, ..."""

    def __init__(self):
        self.answers = itertools.cycle(["51", "101"])
        self.lock = threading.Lock()

    def __call__(self, request: dict) -> str:
        if "json" in request["messages"][-1]["content"].lower():
            with self.lock:
                return json.dumps({"answer": next(self.answers), "justification": "decided"})
        return "20 + 31 = 51. \\boxed{51}"


def test_evaluate_plays_the_fixed_action_protocol_without_a_checkpoint(loopback, tmp_path):
    run_dir = tmp_path / "run"
    run(
        "econ.evaluate",
        [
            *loopback_overrides(loopback.base_url),
            *SMALL,
            "method=econ_fixed_action",
            "agents.fixed_action.temperature=0.5",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    results = json.loads((run_dir / "results.json").read_text())
    summary = results["methods"]["econ_fixed_action"]
    assert summary["n"] == 2 and summary["best_response_gap"] is None
    assert results["fixed_action"] == {"temperature": 0.5, "penalty": 0.1}
    # the loopback team always agrees on 42: the second round repeats the first, a fixed point
    assert summary["stop_reasons"] == {"fixed_point": 2, "max_rounds": 0} and summary["mean_rounds"] == 2
    rounds = [r for record in read_jsonl(run_dir / "traces.jsonl") for r in record["rounds"]]
    assert all(action == pytest.approx([0.5, 0.1]) for r in rounds for action in r["actions"])


def test_flipping_commitments_never_count_as_converged(loopback_factory, tmp_path):
    server = loopback_factory(responder=FlippingCoordinator())
    overrides = [*loopback_overrides(server.base_url), *SMALL]
    checkpoint = write_untrained_checkpoint(tmp_path / "untrained.ckpt", overrides)
    run_dir = tmp_path / "run"
    run(
        "econ.evaluate",
        [
            *overrides,
            "method=econ",
            "bne.max_iterations_infer=3",
            f"ckpt_path={checkpoint}",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    summary = json.loads((run_dir / "results.json").read_text())["methods"]["econ"]
    assert summary["converged_rate"] == 0 and summary["mean_rounds"] == 3
    assert summary["stop_reasons"] == {"fixed_point": 0, "max_rounds": 2}
    assert summary["best_response_gap"] >= 0


def test_train_evaluates_the_fixed_action_beside_the_learned_policy(loopback, tmp_path):
    run_dir = tmp_path / "run"
    run(
        "econ.train",
        [
            *loopback_overrides(loopback.base_url),
            *SMALL,
            "learner.max_episodes=1",
            "eval_methods=[econ_no_bne,econ,econ_fixed_action]",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    methods = json.loads((run_dir / "results.json").read_text())["methods"]
    assert list(methods) == ["econ_no_bne", "econ", "econ_fixed_action"]
    assert methods["econ_fixed_action"]["best_response_gap"] is None and methods["econ"]["best_response_gap"] >= 0
