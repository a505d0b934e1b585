"""JsonlLog: records survive at once (flush) and reach the disk in shared fsyncs off the event loop."""

from __future__ import annotations

import asyncio
import os
import threading

from econ.run import jsonl as runlog
from econ.run.jsonl import JsonlLog, read_jsonl


async def test_records_written_together_share_one_fsync_off_the_event_loop(tmp_path, monkeypatch):
    fsyncs, threads, real_fsync = [], set(), os.fsync

    def slow_fsync(fd: int) -> None:
        threads.add(threading.get_ident())
        fsyncs.append(fd)
        threading.Event().wait(0.05)  # a slow disk: the other writers arrive meanwhile
        real_fsync(fd)

    monkeypatch.setattr(runlog.os, "fsync", slow_fsync)
    log = JsonlLog(tmp_path / "log.jsonl")

    async def write_and_sync(i: int) -> None:
        log.write({"i": i})
        await log.sync()

    await asyncio.gather(*(write_and_sync(i) for i in range(8)))
    log.close()
    assert [r["i"] for r in read_jsonl(tmp_path / "log.jsonl")] == list(range(8))
    assert len(fsyncs) <= 2  # the first writer's fsync, then one for everyone who waited
    assert threading.get_ident() not in threads


def test_append_is_on_disk_when_it_returns(tmp_path, monkeypatch):
    fsyncs = []
    monkeypatch.setattr(runlog.os, "fsync", fsyncs.append)
    log = JsonlLog(tmp_path / "log.jsonl")
    log.append({"a": 1})
    assert len(fsyncs) == 1 and list(read_jsonl(tmp_path / "log.jsonl")) == [{"a": 1}]
    log.close()
