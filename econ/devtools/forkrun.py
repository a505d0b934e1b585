"""Run econ's command-line entry points in processes forked from a warm parent, for fast CLI tests.

Importing `econ.train` (torch, lightning, hydra) costs 5-15 s of CPU; a child forked from a
multiprocessing fork server that has already imported it starts at once. Each run is still
its own process that executes `python -m <module> <args>` (the module runs as `__main__`),
with its own environment, working directory, stdout/stderr files and exit code, and it can
be killed with SIGKILL like any process. Only the import is shared.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.connection
import os
import runpy
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

PRELOAD = ["econ.train", "econ.evaluate", "datasets", "openai", "together", "sentence_transformers", "math_verify"]

_context: multiprocessing.context.BaseContext | None = None
_launched: list[multiprocessing.process.BaseProcess] = []
# A forkserver child's exit status is a number read once from a pipe, and `start()` polls every live child:
# a start in one thread racing a wait in another reads it twice, and the second read makes it 255.
_status_lock = threading.Lock()


def _fork_context() -> multiprocessing.context.BaseContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _become_cli(module: str, args: list[str], env: dict[str, str], cwd: str, stdout: str, stderr: str) -> None:
    """In the forked child: take the given environment, cwd and output files, then run the module as `__main__`."""
    sys.path[:] = [os.path.abspath(entry) for entry in sys.path]  # "" must keep meaning the launch dir
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, stdout), (2, stderr)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
        os.close(handle)
    sys.argv = [module, *args]
    sys.modules.pop(module, None)  # preloaded; `python -m` would find it unimported
    runpy.run_module(module, run_name="__main__", alter_sys=True)


@dataclass
class CliRun:
    """A running (or finished) entry point: wait for it, kill it, read what it printed."""

    process: multiprocessing.process.BaseProcess
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (negative: killed by that signal), or None if still running after timeout."""
        multiprocessing.connection.wait([self.process.sentinel], timeout)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL, as `kill -9` would."""
        self.process.kill()
        self.wait()

    @property
    def returncode(self) -> int | None:
        with _status_lock:
            self.process.join(0)
            return self.process.exitcode

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def launch(
    module: str,
    args: list[str],
    *,
    out_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    name: str = "run",
) -> CliRun:
    """Start `python -m module *args` as a forked child; its output goes to out_dir/<name>.{stdout,stderr}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = out_dir / f"{name}.stdout", out_dir / f"{name}.stderr"
    process = _fork_context().Process(
        target=_become_cli,
        args=(
            module,
            list(args),
            dict(os.environ if env is None else env),
            str(cwd or Path.cwd()),
            str(stdout),
            str(stderr),
        ),
        name=f"econ-cli-{name}",
    )
    with _status_lock:
        process.start()
        if not _launched:  # registered after multiprocessing's own exit hook, so it runs first
            atexit.register(_kill_leftovers)
        _launched.append(process)
    return CliRun(process, stdout, stderr)


def run(
    module: str,
    args: list[str],
    *,
    out_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    name: str = "run",
    timeout: float = 300.0,
) -> CliRun:
    """`launch` and wait; a run still going after timeout is killed (its exit code is then -9)."""
    cli = launch(module, args, out_dir=out_dir, env=env, cwd=cwd, name=name)
    if cli.wait(timeout) is None:
        cli.kill()
    return cli


def _kill_leftovers() -> None:
    """A run a failed test left behind is killed at exit; multiprocessing would otherwise wait for it."""
    with _status_lock:
        for process in _launched:
            if process.is_alive():
                process.kill()
