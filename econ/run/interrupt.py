"""Ctrl-C (SIGINT) and SIGTERM: stop within a moment, keep what is done, say how to resume.

On the first signal the handler cancels every task of the running event loop (the LLM calls in
flight; finished problems and episodes are already logged and cached), or, when no loop is
running, raises `Interrupted` where the program is. Either way the run unwinds through its
`finally` blocks and `econ.run.job.run_or_exit` prints one line and exits 128 + the signal number
(130 for Ctrl-C). A second signal while unwinding exits at once.

Lightning turns a KeyboardInterrupt inside `fit` into exit code 1; `Interrupted` is not one,
so Lightning re-raises it and the exit code stays 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
RESUME_HINT = "what is done is kept; re-run the same command to resume"


class Interrupted(BaseException):
    """The user (or the scheduler) asked the run to stop. BaseException: no `except Exception` swallows it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []


def received() -> int | None:
    """The signal that asked this process to stop, or None."""
    return _received[0] if _received else None


def exit_code(signum: int) -> int:
    return 128 + signum


def message(signum: int) -> str:
    return f"interrupted ({signal.Signals(signum).name}): {RESUME_HINT}"


def _handler(signum: int, frame) -> None:
    if _received:  # a second Ctrl-C while unwinding: stop now
        sys.stderr.write(f"{message(_received[0])} (stopped at once)\n")
        sys.stderr.flush()
        os._exit(exit_code(_received[0]))
    _received.append(signum)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        raise Interrupted(signum)
    for task in asyncio.all_tasks(loop):  # as asyncio.Runner does on SIGINT: cancel, then wake the loop
        task.cancel()
    loop.call_soon_threadsafe(lambda: None)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM stop the run as described above (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _handler) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
