"""Append-only JSONL logs that survive a kill -9: every record is flushed, then fsynced."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from econ.config.redaction import redact_text


class JsonlLog:
    """One JSON object per line, durable once `append` (or `write`, then `sync`) returns; secrets never written."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = ends_mid_line(self.path)
        self._file = self.path.open("a", encoding="utf-8")
        if torn:
            self._file.write("\n")  # a write cut short (kill, full disk) must not swallow our first record
        self._written = self._synced = 0  # records written (flushed) / known to be on disk
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._fsync_thread: ThreadPoolExecutor | None = None

    def write(self, record: dict[str, Any]) -> None:
        """Append and flush: the record survives a kill of this process at once, a crash of the OS after `sync`."""
        self._file.write(redact_text(json.dumps(record, ensure_ascii=False)) + "\n")
        self._file.flush()
        self._written += 1

    def append(self, record: dict[str, Any]) -> None:
        """`write`, then fsync in this thread."""
        self.write(record)
        written = self._written
        os.fsync(self._file.fileno())
        self._synced = max(self._synced, written)

    async def sync(self) -> None:
        """Wait until every record written so far is on disk, without blocking the event loop.

        The fsync runs in this log's own thread. Callers that arrive while one is running share the
        next one (group commit): records written together cost one fsync, not one each.
        """
        target = self._written
        async with self._lock():
            if self._synced >= target:
                return  # an fsync that started after our write covered it
            written = self._written
            if self._fsync_thread is None:
                self._fsync_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="econ-fsync")
            await asyncio.get_running_loop().run_in_executor(self._fsync_thread, os.fsync, self._file.fileno())
            self._synced = max(self._synced, written)

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if loop not in self._locks:
            self._locks = {lp: lock for lp, lock in self._locks.items() if not lp.is_closed()}
            self._locks[loop] = asyncio.Lock()
        return self._locks[loop]

    def close(self) -> None:
        if self._fsync_thread is not None:
            self._fsync_thread.shutdown(wait=True)
            self._fsync_thread = None
        self._file.close()


def ends_mid_line(path: Path) -> bool:
    """The file exists and its last byte is not a newline (its last write was cut short)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL log; a torn last line (a kill mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
