"""kill -9 a training run and an evaluation run mid-call; the same command resumes them to the uninterrupted result."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from econ.data.datasets import load_splits
from econ.devtools import forkrun
from econ.devtools.arithmetic import addition_responder, write_addition_problems
from econ.devtools.loopback import LoopbackServer
from econ.devtools.runs import TINY_RUN, compose_config, loopback_overrides
from econ.run.jsonl import read_jsonl
from econ.run.usage import RunUsageTracker

TINY = [*TINY_RUN, "logger=csv"]
N_TRAIN, N_TEST = 6, 3
SIGKILL_EXIT = -9


def _key(body: dict) -> str:
    return json.dumps(body, sort_keys=True)


def _is_commitment_call(request: dict, question: str) -> bool:
    """The coordinator's commitment for `question`: nothing else is in flight then, and its strategy
    and executor calls are done, so a kill while it is held leaves exactly one call unfinished."""
    last = request["messages"][-1]["content"]
    return question in last and "Reply with only a JSON object" in last


class HoldAt:
    """Answers like `addition_responder`, but holds the first request `select` picks until released.

    Records every request it answered, so a test can tell work finished before a kill
    (answered, hence cached) from the one call in flight when the kill came.
    """

    def __init__(self, select: Callable[[dict], bool]):
        self.select = select
        self.reached = threading.Event()
        self.release = threading.Event()
        self.held: dict | None = None
        self.answered: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: dict) -> str:
        with self._lock:
            hold = self.held is None and self.select(request)
            if hold:
                self.held = request
        if hold:
            self.reached.set()
            self.release.wait(120)
            return addition_responder(request)  # nobody reads it: the caller was killed
        text = addition_responder(request)
        with self._lock:
            self.answered.append(_key(request))
        return text


def _calls_logged(run_dir: Path) -> int:
    return sum(1 for line in read_jsonl(run_dir / "usage.jsonl") if line[1] == "call")


def _kill_when_held(run: forkrun.CliRun, switch: HoldAt, run_dir: Path) -> list[str]:
    """SIGKILL the run while its call is held; return the calls answered (and so cached) before."""
    assert switch.reached.wait(180), run.stderr[-2000:]
    answered = list(switch.answered)
    assert _calls_logged(run_dir) == len(answered)  # every answered call was cached and counted
    run.kill()
    switch.release.set()
    assert run.returncode == SIGKILL_EXIT
    return answered


def _records(run_dir: Path, method: str, ignore: tuple[str, ...] = ("wall_s",)) -> dict[str, dict]:
    return {
        r["problem_id"]: {k: v for k, v in r.items() if k not in ignore}
        for r in read_jsonl(run_dir / f"results_{method}.jsonl")
    }


def _results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def _methods(results: dict) -> dict:
    return {m: {k: v for k, v in s.items() if k != "wall_s"} for m, s in results["methods"].items()}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = write_addition_problems(root / "data", n_train=N_TRAIN, n_test=N_TEST, seed=3)
    splits = load_splits(compose_config(["dataset=custom", f"dataset.path='{data}'"]).dataset, 42)
    return root, data, splits


def _train_args(data: str, server: LoopbackServer, run_dir: Path) -> list[str]:
    return [
        *loopback_overrides(server.base_url),
        *TINY,
        "dataset=custom",
        f"dataset.path='{data}'",
        f"hydra.run.dir={run_dir}",
    ]


@pytest.fixture(scope="module")
def training(setup):
    """An uninterrupted training run, and one killed in episode 3 then resumed by the same command."""
    root, data, splits = setup
    switch = HoldAt(lambda request: _is_commitment_call(request, splits.train[2].question))
    with LoopbackServer(responder=addition_responder) as healthy, LoopbackServer(responder=switch) as server:
        reference = forkrun.launch(
            "econ.train",
            _train_args(data, healthy, root / "train_ref"),
            out_dir=root,
            env={**os.environ, "ECON_CACHE_DIR": str(root / "cache_ref")},
            name="train_ref",
        )
        env = {**os.environ, "ECON_CACHE_DIR": str(root / "cache_killed")}
        args = _train_args(data, server, root / "train_killed")
        killed = forkrun.launch("econ.train", args, out_dir=root, env=env, name="train_killed")
        answered = _kill_when_held(killed, switch, root / "train_killed")
        sent_before = len(server.chat_requests())
        resumed = forkrun.run("econ.train", args, out_dir=root, env=env, name="train_resumed")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert reference.wait(300) == 0, reference.stderr[-2000:]
        yield {
            "ref": root / "train_ref",
            "run": root / "train_killed",
            "answered": set(answered),
            "resent": [_key(b) for b in server.chat_requests()[sent_before:]],
            "held": _key(switch.held),
        }


def test_killed_training_repeats_no_finished_call(training):
    assert training["held"] in training["resent"]  # the kill came mid-call: that call is made again
    assert [k for k in training["resent"] if k in training["answered"]] == []


def test_resumed_training_ends_as_uninterrupted(training):
    ref, run = training["ref"], training["run"]
    episodes = [r["episode"] for r in read_jsonl(run / "traces.jsonl") if r["kind"] == "train"]
    assert episodes == list(range(1, N_TRAIN + 1))
    mine, theirs = torch.load(run / "last.ckpt", weights_only=False), torch.load(ref / "last.ckpt", weights_only=False)
    assert mine["state_dict"].keys() == theirs["state_dict"].keys()
    for name, tensor in theirs["state_dict"].items():
        assert torch.equal(mine["state_dict"][name], tensor), name
    assert _methods(_results(run)) == _methods(_results(ref))
    for key in ("alpha", "train_episodes", "updates"):
        assert _results(run)[key] == _results(ref)[key]
    for method in ("econ_no_bne", "econ"):
        assert _records(run, method) == _records(ref, method)


def test_resumed_training_reports_usage_of_both_processes(training):
    usage, reference = _results(training["run"])["usage"], _results(training["ref"])["usage"]
    assert usage["processes"] == 2
    assert usage["total"]["calls"] == reference["total"]["calls"]


@pytest.fixture(scope="module")
def evaluation(setup, training):
    """The trained checkpoint evaluated by econ.evaluate, killed in its second problem, then resumed."""
    root, data, splits = setup
    switch = HoldAt(lambda request: _is_commitment_call(request, splits.test[1].question))
    with LoopbackServer(responder=switch) as server:
        args = [
            *loopback_overrides(server.base_url),
            *TINY,
            "dataset=custom",
            f"dataset.path='{data}'",
            "method=econ",
            f"ckpt_path={training['ref'] / 'last.ckpt'}",
            f"hydra.run.dir={root / 'eval'}",
        ]
        env = {**os.environ, "ECON_CACHE_DIR": str(root / "cache_eval")}
        killed = forkrun.launch("econ.evaluate", args, out_dir=root, env=env, name="eval_killed")
        answered = _kill_when_held(killed, switch, root / "eval")
        done_at_kill = set(_records(root / "eval", "econ"))
        sent_before = len(server.chat_requests())
        resumed = forkrun.run("econ.evaluate", args, out_dir=root, env=env, name="eval_resumed")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        yield {
            "run": root / "eval",
            "answered": set(answered),
            "all_answered": len(switch.answered),
            "resent": [_key(b) for b in server.chat_requests()[sent_before:]],
            "held": _key(switch.held),
            "done_at_kill": done_at_kill,
            "first": splits.test[0].id,
        }


def test_killed_evaluation_keeps_finished_problems_and_repeats_no_call(evaluation):
    assert evaluation["done_at_kill"] == {evaluation["first"]}
    assert evaluation["held"] in evaluation["resent"]
    assert [k for k in evaluation["resent"] if k in evaluation["answered"]] == []


def test_resumed_evaluation_matches_the_training_runs_evaluation(evaluation, training):
    # cache hits differ: in training, econ's first round re-used econ_no_bne's identical calls
    ignore = ("wall_s", "cache_hits")
    assert _records(evaluation["run"], "econ", ignore) == _records(training["ref"], "econ", ignore)
    results = _results(evaluation["run"])
    assert results["usage"]["processes"] == 2 and results["usage"]["total"]["calls"] == evaluation["all_answered"]
    trained = _results(training["ref"])
    assert (results["train_episodes"], results["updates"]) == (trained["train_episodes"], trained["updates"])


def test_usage_log_sums_processes_and_survives_a_torn_line(tmp_path):
    first = RunUsageTracker(tmp_path / "usage.jsonl")
    first.record_call("executor", "p1", 10, 5, 0.1)
    first.record_fault("executor", "p1", "429", True)
    first.close()
    with (tmp_path / "usage.jsonl").open("a") as log:
        log.write('["killed", "call", "executor", "p1", 10')  # a kill -9 in the middle of a line
    second = RunUsageTracker(tmp_path / "usage.jsonl")
    second.record_call("executor", "p2", 20, 5, 0.1)
    second.close()
    reader = RunUsageTracker(tmp_path / "usage.jsonl")
    total = reader.run_snapshot()
    reader.close()
    assert total["processes"] == 2
    assert (total["total"]["calls"], total["total"]["prompt_tokens"], total["total"]["faults"]) == (2, 30, {"429": 1})
