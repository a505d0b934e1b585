"""Places a run writes: probed by writing before the first LLM call; a write that fails later stops cleanly.

`probe_dir` creates the directory and writes, fsyncs and removes a small temp file in it, so a
read-only file system, a full disk, a path under a regular file or a missing permission show up
as one line naming the key, before anything is computed. `probe_files` checks that the files a
run appends to (traces, results logs) can be opened for appending, without changing them.

A write that fails mid-run (the disk fills up) raises OSError from deep inside; `write_failure`
turns it into the one line `econ.run.job.run_or_exit` prints. Every log is appended and fsynced record by
record and the checkpoint is replaced atomically, so what finished before is kept and the same
command resumes.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from econ.errors import ConfigError, EconError

PROBE_BYTES = 4096  # one page: a full disk refuses it even when it still takes an empty file
# errnos that mean "this place cannot be written", as opposed to a missing input
# (the other ways a place cannot be written, a file in the way or a missing permission, the probes catch)
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO}


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def probe_dir(path: str | Path, key: str, fix: str = "point it at a writable directory with free space") -> Path:
    """Create `path` and write a temp file into it; ConfigError naming `key` when either fails."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(prefix=".econ-write-probe-", dir=path)
        try:
            os.write(descriptor, b"\0" * PROBE_BYTES)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
            os.unlink(name)
    except OSError as error:
        raise ConfigError(f"{key}={path}: cannot write there ({_reason(error)}); {fix}") from None
    return path


def probe_files(directory: Path, names: Iterable[str], key: str) -> None:
    """Each existing file the run appends to opens for appending (nothing is written to it)."""
    for name in names:
        path = Path(directory) / name
        if not path.exists() and not path.is_symlink():
            continue
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError as error:
            raise ConfigError(
                f"{key}={directory}: cannot append to {name} ({_reason(error)}); move it aside or give another {key}"
            ) from None


def probe_run_outputs(cfg: DictConfig, run_dir: Path) -> None:
    """Every place a run writes: its dir and logs, the caches' dirs, the W&B dir (before any LLM call)."""
    from econ.run.job import is_multirun  # job imports this module

    key = "hydra.sweep.dir" if is_multirun() else "hydra.run.dir"
    probe_dir(run_dir, key)
    probe_files(run_dir, ("traces.jsonl", "usage.jsonl", "metrics.csv", "results.json", "last.ckpt"), key)
    probe_files(run_dir, (p.name for p in run_dir.glob("results_*.jsonl")), key)
    for cache_key in ("llm.cache_path", "embedder.cache_path"):
        enabled = cache_key != "llm.cache_path" or OmegaConf.select(cfg, "llm.cache", default=False)
        cache = OmegaConf.select(cfg, cache_key, default=None)
        if enabled and cache:
            probe_dir(
                Path(str(cache)).expanduser().parent,
                cache_key,
                "point it (or ECON_CACHE_DIR) at a writable directory with free space",
            )
    if OmegaConf.select(cfg, "logger.name", default=None) == "wandb":
        probe_dir(run_dir / "wandb", "logger=wandb", "free the run dir's wandb path, or use logger=csv")
        if os.environ.get("WANDB_DIR"):
            probe_dir(os.environ["WANDB_DIR"], "WANDB_DIR", "point it at a writable directory or unset it")


def replace_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a sibling temp file: a reader, or a run killed mid-write, never sees half."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def write_failure(error: OSError) -> EconError | None:
    """A mid-run write failure as the one line to print, or None when `error` is not one."""
    if error.errno not in WRITE_ERRNOS:
        return None
    where = f"cannot write {error.filename}" if error.filename else "a write to disk failed"
    return EconError(
        f"{where} ({_reason(error)}): what finished is kept; "
        "free space or fix the directory, then re-run the same command to resume"
    )


class OutputDirCheck(Callback):
    """Hydra callback: the run or sweep dir is writable before Hydra writes its own files there."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._check(config, "hydra.sweep.dir")

    @staticmethod
    def _check(config: DictConfig, key: str) -> None:
        from econ.run.job import run_or_exit

        run_or_exit(lambda: probe_dir(str(OmegaConf.select(config, key)), key))
