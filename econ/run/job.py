"""Run an entry point's job: a user error or a full disk prints one line and exits 2, Ctrl-C one line and exits 130;
a failed multirun job is recorded and the sweep goes on."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf.errors import OmegaConfBaseException

from econ.config.redaction import redact_text
from econ.errors import EconError
from econ.run import interrupt
from econ.run.writable import write_failure

T = TypeVar("T")
EXIT_USER_ERROR = 2
FAILED_FILE = "failed.json"

log = logging.getLogger(__name__)


def error_line(error: BaseException) -> str:
    """The first line of an error's message with secrets masked (its type name when it has none)."""
    lines = [line for line in redact_text(str(error)).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def config_error_line(error: OmegaConfBaseException) -> str:
    """An OmegaConf error (a broken interpolation, a value of the wrong type) as `key: what went wrong; fix`."""
    key = getattr(error, "full_key", None) or "config"
    return f"{key}: {error_line(error)}; fix this value or the ${{...}} interpolation in it"


def run_or_exit(job: Callable[[], T]) -> T:
    """Call job(); an EconError, a failed write, or an OmegaConf error from reading a config value (one
    validation could not see) becomes `error: <message>` on stderr and exit code 2; Ctrl-C (or SIGTERM) one
    `interrupted` line and exit code 128 + the signal (see econ.run.interrupt)."""
    with interrupt.stop_on_signals():
        try:
            return job()
        except BaseException as error:
            signum = interrupt.received()
            if signum is not None:  # whatever the unwinding raised, the run stopped because it was asked to
                _exit(interrupt.message(signum), interrupt.exit_code(signum), at_once=True)
            failure = write_failure(error) if isinstance(error, OSError) else error
            if isinstance(failure, EconError):
                _exit(f"error: {error_line(failure)}", EXIT_USER_ERROR)
            if isinstance(failure, OmegaConfBaseException):
                _exit(f"error: {config_error_line(failure)}", EXIT_USER_ERROR)
            raise


def _exit(line: str, code: int, at_once: bool = False) -> None:
    if logging.getLogger().handlers:  # Hydra's job log; unconfigured, logging would repeat the line on stderr
        log.error(line)
    print(line, file=sys.stderr, flush=True)
    if at_once:
        # the run's own cleanup has run; exit without joining worker threads (a local generation in
        # flight would hold the exit for its whole length)
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    sys.exit(code)


def hydra_error_line(error: BaseException) -> str:
    """A Hydra or OmegaConf error as one line: its lines (and its cause's) joined, a list of options on one line,
    OmegaConf's node details and Hydra's search path dropped."""
    lines = []
    for source in (error, error.__cause__):
        if source is not None and (source is error or str(source) not in str(error)):
            lines += [line.strip() for line in redact_text(str(source)).splitlines() if line.strip()]
    pieces: list[str] = []
    listing = False
    for line in lines:
        if line.startswith(("Config search path", "See https://")):
            break
        if line.startswith(("full_key:", "object_type=", "reference_type=")):
            continue
        if listing and not line.endswith(":"):
            pieces[-1] += line if pieces[-1].endswith(": ") else f", {line}"
            continue
        listing = line.endswith(":")
        pieces.append(f"{line} " if listing else line.rstrip("."))
    text = "; ".join(piece.strip() for piece in pieces) or type(error).__name__
    if "Interpolation" in type(error).__name__:
        text += "; fix the ${...} interpolation given on the command line"
    key = getattr(error, "full_key", None)
    return f"{key}: {text}" if key and not text.startswith(key) else text


def run_cli(main: Callable[[], object]) -> None:
    """Run a `@hydra.main` entry point: what Hydra or OmegaConf refuses before (or around) the job - an override
    that does not parse, an unknown group option or key, a value of the wrong type for Hydra's own settings, an
    interpolation in the run dir - is one `error:` line and exit code 2 as well, never Hydra's traceback.

    HYDRA_FULL_ERROR=1 set by the user keeps Hydra's full report.
    """
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing its report
    try:
        main()
    except (HydraException, OmegaConfBaseException) as error:
        print(f"error: {hydra_error_line(error)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    finally:
        os.environ.pop("HYDRA_FULL_ERROR", None)


def is_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (`-m`)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def record_failure(run_dir: Path, error: BaseException) -> Path:
    """failed.json in the job dir: the one-line error, its type and the job's overrides."""
    hydra_cfg = HydraConfig.get()
    record = {
        "error": error_line(error),
        "type": type(error).__name__,
        "job_num": int(hydra_cfg.job.num),
        "overrides": [redact_text(o) for o in hydra_cfg.overrides.task],
    }
    path = run_dir / FAILED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    return path


def run_job(job: Callable[[], T]) -> T | None:
    """Run an entry point's job: a single run exits 2 on a user error; a multirun job that fails
    writes failed.json, logs the error and returns None so that the sweep goes on.

    Hydra's basic launcher runs jobs in-process, where an exception or SystemExit ends the sweep.
    """
    if not is_multirun():
        return run_or_exit(job)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    (run_dir / FAILED_FILE).unlink(missing_ok=True)  # a re-run sweep resumes its jobs: forget an old failure

    def job_or_record() -> T | None:
        try:
            return job()
        except Exception as error:
            if interrupt.received() is not None:  # what Ctrl-C cancelled is no failure of this job
                raise
            path = record_failure(run_dir, error)
            log.error("job failed: %s (recorded in %s); the sweep goes on", error_line(error), path, exc_info=error)
            return None

    return run_or_exit(job_or_record)  # Ctrl-C stops the whole sweep with one line; a full disk too
