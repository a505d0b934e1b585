"""Places we write and Ctrl-C: a place that cannot be written is one line before the first LLM call; a disk that
fills up mid-run, or a SIGINT, stops the run with one line, keeps what finished, and the same command resumes it
without repeating a finished call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from econ.devtools import forkrun
from econ.devtools.arithmetic import addition_responder, write_addition_problems
from econ.devtools.loopback import LoopbackServer
from econ.devtools.runs import TINY_RUN, loopback_overrides, write_untrained_checkpoint
from econ.run.jsonl import read_jsonl

TINY = [*TINY_RUN, "logger=csv"]
ECON_EXIT, SIGINT_EXIT = 2, 130


def _key(body: dict) -> str:
    return json.dumps(body, sort_keys=True)


def _one_line(run, prefix: str = "error: ", mid_run: bool = False) -> str:
    """The run's one message; a run stopped mid-way printed its progress before it, so there it is the last line."""
    output = run.stdout + run.stderr
    assert "Traceback" not in output, output[-3000:]
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    if mid_run:
        assert [line for line in lines if line.startswith(("error:", "interrupted"))] == lines[-1:], output[-3000:]
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith(prefix), run.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("writes")
    return root, write_addition_problems(root / "data", n_train=4, n_test=4, seed=3)


def _args(entry: str, server: LoopbackServer, data: str, run_dir: Path, root: Path, *extra: str) -> list[str]:
    args = [*loopback_overrides(server.base_url), *TINY, "dataset=custom", f"dataset.path='{data}'", *extra]
    if entry == "econ.evaluate":
        checkpoint = root / "untrained.ckpt"
        if not checkpoint.exists():
            write_untrained_checkpoint(checkpoint, TINY)
        args += ["method=econ", f"ckpt_path={checkpoint}"]
    return [*args, f"hydra.run.dir='{run_dir}'"]


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size) -> a fresh tmpfs dir of that many bytes (read-only with ro=True); skipped where mount is refused."""
    mounted: list[Path] = []

    def mount(size: str = "2m", ro: bool = False) -> Path:
        where = tmp_path / f"fs{len(mounted)}"
        where.mkdir()
        options = f"size={size}" + (",ro" if ro else "")
        if subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, check=False
        ).returncode:
            pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], capture_output=True, check=False)


def _fill(where: Path) -> Path:
    """Fill a file system to the last byte: every later write there fails with ENOSPC."""
    filler = where / "filler"
    try:
        with filler.open("wb") as handle:
            while True:
                handle.write(b"x" * 4096)
                handle.flush()
    except OSError:
        pass
    return filler


def _start_case(case: str, root: Path, tmpfs) -> tuple[Path, dict[str, str], list[str]]:
    """(run dir, extra environment, extra overrides) of a place that cannot be written, and the key named."""
    afile = root / "afile"
    afile.write_text("a file")
    if case == "run_dir_under_a_file":
        return afile / "run", {}, []
    if case == "traces_is_a_directory":
        (root / case / "traces.jsonl").mkdir(parents=True)
        return root / case, {}, []
    if case == "wandb_dir_is_a_file":
        (root / case).mkdir()
        (root / case / "wandb").write_text("a file where W&B wants its dir")
        return root / case, {"WANDB_MODE": "offline"}, ["logger=wandb"]
    if case == "run_dir_read_only":
        return tmpfs("1m", ro=True) / "run", {}, []
    if case == "run_dir_full":
        full = tmpfs("64k")
        _fill(full)
        return full / "run", {}, []
    if case == "cache_dir_read_only":
        return root / case, {"ECON_CACHE_DIR": str(tmpfs("1m", ro=True) / "cache")}, []
    if case == "cache_dir_full":
        full = tmpfs("64k")
        _fill(full)
        return root / case, {"ECON_CACHE_DIR": str(full / "cache")}, []
    raise AssertionError(case)


START_CASES = {
    "run_dir_under_a_file": "hydra.run.dir=",
    "traces_is_a_directory": "traces.jsonl",
    "wandb_dir_is_a_file": "logger=wandb",
    "run_dir_read_only": "hydra.run.dir=",
    "run_dir_full": "hydra.run.dir=",
    "cache_dir_read_only": "llm.cache_path=",
    "cache_dir_full": "llm.cache_path=",
}


@pytest.mark.parametrize("case", list(START_CASES))
def test_a_place_that_cannot_be_written_is_one_line_before_any_call(data, tmpfs, tmp_path, case):
    root, pattern = data
    run_dir, env, extra = _start_case(case, tmp_path, tmpfs)
    with LoopbackServer(responder=addition_responder) as server:
        args = _args("econ.train", server, pattern, run_dir, root, "learner.max_episodes=1", *extra)
        run = forkrun.run(
            "econ.train",
            args,
            out_dir=tmp_path / "logs",
            name=case,
            timeout=120,
            env={**os.environ, "ECON_CACHE_DIR": str(tmp_path / "cache"), **env},
        )
        assert run.returncode == ECON_EXIT, (run.stdout + run.stderr)[-3000:]
        assert START_CASES[case] in _one_line(run)
        assert server.chat_requests() == []


def test_a_sweep_dir_that_cannot_be_written_is_one_line(data, tmp_path):
    root, pattern = data
    (tmp_path / "afile").write_text("a file")
    with LoopbackServer(responder=addition_responder) as server:
        args = [
            "-m",
            *_args("econ.train", server, pattern, tmp_path / "unused", root)[:-1],
            "agents.n_agents=2,3",
            f"hydra.sweep.dir='{tmp_path / 'afile' / 'sweep'}'",
        ]
        run = forkrun.run(
            "econ.train",
            args,
            out_dir=tmp_path / "logs",
            name="sweep",
            timeout=120,
            env={**os.environ, "ECON_CACHE_DIR": str(tmp_path / "cache")},
        )
        assert run.returncode == ECON_EXIT, (run.stdout + run.stderr)[-3000:]
        assert "hydra.sweep.dir=" in _one_line(run)
        assert server.chat_requests() == []


class Recorder:
    """Answers like addition_responder; keeps every request; runs `at(n)` before answering the n-th."""

    def __init__(self, at: dict[int, callable] | None = None):
        self.at = at or {}
        self.keys: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: dict) -> str:
        with self.lock:
            self.keys.append(_key(request))
            action = self.at.get(len(self.keys))
        if action is not None:
            action()
        return addition_responder(request)


def _calls_logged(run_dir: Path) -> int:
    return sum(1 for line in read_jsonl(run_dir / "usage.jsonl") if line[1] == "call")


def _resume(entry, args, env, tmp_path, recorder: Recorder, run_dir: Path):
    """Re-run the same command against the same server (its URL is part of the cache key): the run, the
    requests it repeated, and how many of the first run's requests it could repeat (those not logged as done)."""
    cached_before = _calls_logged(run_dir)
    sent_before = len(recorder.keys)
    run = forkrun.run(entry, args, out_dir=tmp_path / "logs", env=env, name="resumed", timeout=300)
    first = recorder.keys[:sent_before]
    repeated = set(recorder.keys[sent_before:]) & set(first)
    return run, repeated, len(set(first)) - cached_before


@pytest.mark.parametrize("entry", ["econ.train", "econ.evaluate"])
def test_a_disk_that_fills_mid_run_stops_cleanly_and_resumes(data, tmpfs, tmp_path, entry):
    root, pattern = data
    disk = tmpfs("4m")
    run_dir = disk / "run"
    filler: list[Path] = []
    first = Recorder(at={14: lambda: filler.append(_fill(disk))})  # in the second problem or episode
    env = {**os.environ, "ECON_CACHE_DIR": str(tmp_path / "cache")}
    with LoopbackServer(responder=first) as server:
        args = _args(entry, server, pattern, run_dir, root)
        run = forkrun.run(entry, args, out_dir=tmp_path / "logs", env=env, name="full", timeout=300)
        assert run.returncode == ECON_EXIT, (run.stdout + run.stderr)[-3000:]
        assert "No space left on device" in _one_line(run, mid_run=True)
        assert list(read_jsonl(run_dir / "traces.jsonl")), "what finished before the disk filled is kept"
        filler[0].unlink()  # free the space, then the same command
        resumed, repeated, uncached = _resume(entry, args, env, tmp_path, first, run_dir)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert len(repeated) <= uncached  # only calls whose replies the full disk kept from the cache log
    assert not repeated & set(first.keys[:12])  # every call answered before the disk filled is served by the cache
    assert json.loads((run_dir / "results.json").read_text())["methods"]


@pytest.mark.parametrize("entry", ["econ.train", "econ.evaluate"])
def test_ctrl_c_stops_at_once_and_the_same_command_resumes(data, tmp_path, entry):
    root, pattern = data
    run_dir = tmp_path / "run"
    first = Recorder()
    env = {**os.environ, "ECON_CACHE_DIR": str(tmp_path / "cache")}
    with LoopbackServer(responder=first, latency_s=0.2) as server:
        args = _args(entry, server, pattern, run_dir, root)
        run = forkrun.launch(entry, args, out_dir=tmp_path / "logs", env=env, name="interrupted")
        deadline = time.time() + 120
        while time.time() < deadline and not any(True for _ in read_jsonl(run_dir / "traces.jsonl")):
            time.sleep(0.05)  # an episode or a problem is done, the next one is in flight
        time.sleep(0.3)
        assert run.wait(0) is None, run.stderr[-3000:]
        os.kill(run.pid, signal.SIGINT)
        sent = time.monotonic()
        code = run.wait(10)
        took = time.monotonic() - sent
        assert code == SIGINT_EXIT, (run.stdout + run.stderr)[-3000:]
        assert took < 3
        assert "re-run the same command" in _one_line(run, prefix="interrupted (SIGINT)", mid_run=True)
        resumed, repeated, uncached = _resume(entry, args, env, tmp_path, first, run_dir)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert len(repeated) <= uncached  # at most the calls in flight at Ctrl-C are made again
    assert json.loads((run_dir / "results.json").read_text())["methods"]


def test_ctrl_c_stops_an_evaluate_sweep_with_one_line_and_records_no_failed_job(data, tmp_path):
    root, pattern = data
    sweep_dir = tmp_path / "sweep"
    env = {**os.environ, "ECON_CACHE_DIR": str(tmp_path / "cache")}
    with LoopbackServer(responder=addition_responder, latency_s=0.2) as server:
        args = _args("econ.evaluate", server, pattern, tmp_path / "unused", root)[:-1]
        args = ["-m", *args, "seed=0,1", f"hydra.sweep.dir='{sweep_dir}'"]
        run = forkrun.launch("econ.evaluate", args, out_dir=tmp_path / "logs", env=env, name="sweep_interrupted")
        deadline = time.time() + 120
        while time.time() < deadline and not any(any(read_jsonl(p)) for p in sweep_dir.glob("*/traces.jsonl")):
            time.sleep(0.05)  # the first job has finished a problem, the next one is in flight
        assert run.wait(0) is None, run.stderr[-3000:]
        os.kill(run.pid, signal.SIGINT)
        code = run.wait(10)
    assert code == SIGINT_EXIT, (run.stdout + run.stderr)[-3000:]
    assert "re-run the same command" in _one_line(run, prefix="interrupted (SIGINT)", mid_run=True)
    assert not list(sweep_dir.glob("*/failed.json"))  # Ctrl-C is no failure of the job it stopped
    assert [p.name[:2] for p in sweep_dir.iterdir() if p.is_dir()] == ["0_"]  # the sweep stopped: no second job
