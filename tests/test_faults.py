"""Fault injection: a whole evaluation run against a misbehaving server ends as it would against a healthy one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from econ.data.datasets import load_splits
from econ.devtools import forkrun
from econ.devtools.arithmetic import addition_responder, write_addition_problems
from econ.devtools.loopback import LoopbackServer
from econ.devtools.runs import TINY_NETWORKS, compose_config, loopback_overrides, write_untrained_checkpoint
from econ.run.jsonl import read_jsonl

TINY = TINY_NETWORKS
# The mix: 20% 429, 10% 5xx, 5% timeouts, 5% malformed, 5% empty, a few resets and truncated bodies.
RATES = {
    "429": 0.2,
    "500": 0.034,
    "502": 0.033,
    "503": 0.033,
    "timeout": 0.05,
    "malformed": 0.05,
    "empty": 0.05,
    "reset": 0.02,
    "truncated": 0.02,
}
FIRST_FAULTS = ["429", "500", "502", "503", "timeout", "malformed", "empty", "reset", "truncated"]  # each kind once
USAGE_KIND = {
    "429": "429",
    "500": "5xx",
    "502": "5xx",
    "503": "5xx",
    "timeout": "timeout",
    "malformed": "malformed",
    "empty": "empty",
    "reset": "connection",
    "truncated": "connection",
}
RETRY_AFTER_S = 0.2
RETRIES = ["llm.retry_initial_wait_s=0.01", "llm.retry_max_wait_s=0.5", "llm.timeout_s=2"]
N_TEST = 6


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    data = write_addition_problems(root / "data", n_train=2, n_test=N_TEST)
    checkpoint = write_untrained_checkpoint(root / "untrained.ckpt", TINY)
    return root, data, checkpoint


def _args(setup, server: LoopbackServer, run_dir: Path, *extra: str) -> list[str]:
    root, data, checkpoint = setup
    return [
        *loopback_overrides(server.base_url),
        *TINY,
        "dataset=custom",
        f"dataset.path='{data}'",
        "method=econ",
        f"ckpt_path={checkpoint}",
        "logger=csv",
        *RETRIES,
        *extra,
        f"hydra.run.dir={run_dir}",
    ]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "ECON_CACHE_DIR": str(cache)}


def _records(run_dir: Path) -> dict[str, dict]:
    """Per-problem results without the timing, which no two runs share."""
    return {
        r["problem_id"]: {k: v for k, v in r.items() if k != "wall_s"}
        for r in read_jsonl(run_dir / "results_econ.jsonl")
    }


@pytest.fixture(scope="module")
def runs(setup):
    """The same evaluation against a healthy server and against a faulty one, run side by side."""
    root = setup[0]
    healthy = LoopbackServer(responder=addition_responder, latency_s=0.02)
    faulty = LoopbackServer(
        responder=addition_responder,
        latency_s=0.02,
        fault_rates=RATES,
        script=FIRST_FAULTS,
        retry_after_s=RETRY_AFTER_S,
        timeout_sleep_s=4.0,
        seed=7,
    )
    try:
        extra = ("llm.max_retries=20", "llm.problem_concurrency=3")
        clean = forkrun.launch(
            "econ.evaluate",
            _args(setup, healthy, root / "healthy", *extra),
            out_dir=root,
            env=_env(root / "cache_healthy"),
            name="healthy",
        )
        noisy = forkrun.launch(
            "econ.evaluate",
            _args(setup, faulty, root / "faulty", *extra),
            out_dir=root,
            env=_env(root / "cache_faulty"),
            name="faulty",
        )
        assert clean.wait(300) == 0, clean.stderr[-2000:]
        assert noisy.wait(300) == 0, noisy.stderr[-2000:]
        yield root / "healthy", root / "faulty", faulty
    finally:
        healthy.close()
        faulty.close()


def test_every_problem_is_scored_as_without_faults(runs):
    healthy, faulty, _ = runs
    assert len(_records(faulty)) == N_TEST
    assert _records(faulty) == _records(healthy)
    summary = {
        k: v for k, v in json.loads((faulty / "results.json").read_text())["methods"]["econ"].items() if k != "wall_s"
    }
    assert summary == {
        k: v for k, v in json.loads((healthy / "results.json").read_text())["methods"]["econ"].items() if k != "wall_s"
    }


def test_results_json_counts_each_fault_and_retry(runs):
    healthy, faulty, server = runs
    usage = json.loads((faulty / "results.json").read_text())["usage"]["total"]
    injected: dict[str, int] = {}
    for kind, count in server.faults.items():
        injected[USAGE_KIND[kind]] = injected.get(USAGE_KIND[kind], 0) + count
    assert set(injected) == set(USAGE_KIND.values())  # every kind of fault happened
    assert usage["faults"] == injected
    assert usage["retries"] == sum(injected.values()) and usage["failures"] == 0
    assert usage["calls"] == json.loads((healthy / "results.json").read_text())["usage"]["total"]["calls"]


def test_retry_after_is_honoured(runs):
    _, _, server = runs
    requests = [r for r in server.requests if r.body is not None]
    gaps = []
    for i, request in enumerate(requests):
        if request.fault == "429":
            retry = next(r for r in requests[i + 1 :] if r.body == request.body)
            gaps.append(retry.received_at - request.received_at)
    assert gaps and min(gaps) >= RETRY_AFTER_S


def test_exhausted_retry_budget_names_the_problem_and_keeps_finished_ones(setup, runs):
    root, data, _ = setup
    healthy_dir = runs[0]
    problems = load_splits(compose_config(["dataset=custom", f"dataset.path='{data}'"]).dataset, 42).test
    doomed = problems[2]
    broken = {"on": True}

    def responder(request: dict) -> str:
        if broken["on"] and doomed.question in json.dumps(request["messages"]):
            return ""  # an empty completion, every time, for this one problem
        return addition_responder(request)

    with LoopbackServer(responder=responder) as server:
        args = _args(setup, server, root / "budget", "llm.max_retries=2")
        failed = forkrun.run("econ.evaluate", args, out_dir=root, env=_env(root / "cache_budget"), name="budget")
        assert failed.returncode == 2
        errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and doomed.id in errors[0] and "llm.max_retries" in errors[0]
        assert "Traceback" not in failed.stderr
        assert set(_records(root / "budget")) == {p.id for p in problems[:2]}

        broken["on"] = False
        sent_before = len(server.chat_requests())
        resumed = forkrun.run("econ.evaluate", args, out_dir=root, env=_env(root / "cache_budget"), name="budget2")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        again = [
            body
            for body in server.chat_requests()[sent_before:]
            if any(p.question in json.dumps(body["messages"]) for p in problems[:2])
        ]
        assert again == []  # the finished problems were not played again
    assert _records(root / "budget") == _records(healthy_dir)
