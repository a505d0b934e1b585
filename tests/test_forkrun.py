"""The fork-server runner the CLI tests stand on: the exit code it reports is the one the child exited with."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import connection, forkserver
from pathlib import Path

from econ.devtools import forkrun

MISSING = "/nonexistent/input.json"


def _launch_at(barrier: threading.Barrier, out_dir: Path, name: str) -> forkrun.CliRun:
    barrier.wait()
    return forkrun.launch("json.tool", [MISSING], out_dir=out_dir, name=name)


def test_an_exit_code_survives_a_launch_racing_its_wait(tmp_path, monkeypatch):
    """A start() in one thread polls every live child while another thread waits on one: the child's status,
    read once from the fork server's pipe, must not be read twice (the second read reported 255)."""
    expected = subprocess.run([sys.executable, "-m", "json.tool", MISSING], capture_output=True).returncode
    read_signed = forkserver.read_signed

    def slow_read(fd: int) -> int:  # widens the window between "the status is ready" and reading it
        time.sleep(0.05)
        return read_signed(fd)

    monkeypatch.setattr(forkserver, "read_signed", slow_read)
    codes = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        for i in range(5):
            done = forkrun.launch("json.tool", [MISSING], out_dir=tmp_path, name=f"done{i}")
            connection.wait([done.process.sentinel], 60)
            barrier = threading.Barrier(2)
            later = pool.submit(_launch_at, barrier, tmp_path, f"next{i}")
            barrier.wait()
            done.wait(60)
            started = later.result()
            started.wait(60)
            codes += [done.returncode, started.returncode]
    assert codes == [expected] * 10, Path(tmp_path, "done0.stderr").read_text()[-500:]
