"""Usage of a whole run across processes: every usage event also goes to the run dir's usage.jsonl.

A run resumed after a crash or `kill -9` (same command, same run dir) replays that log first,
so results.json reports the calls, tokens, cache hits, faults and retries of every process that
worked on the run, not only of the last one. Per-problem accounting inside a process (what an
`EpisodeResult` reports) stays per process, so a resumed problem is not counted twice.

Each line is `[process, event, role, problem_id, *values, model]` (lines written before models were
recorded end without the model, and replay as model ""), flushed when recorded: a killed
process loses nothing the OS has seen (fsync at close; a torn last line is skipped).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path

from econ.llm.usage import UsageTracker
from econ.run.jsonl import ends_mid_line

EVENTS = ("call", "cache_hit", "fault", "failure")


class RunUsageTracker(UsageTracker):
    """This process's `UsageTracker` that logs every event and also keeps the run's usage over all processes."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.run = UsageTracker()  # earlier processes (replayed) + this one
        self.earlier_processes = self._replay()
        self.process = uuid.uuid4().hex[:12]
        self._logged = False
        self._write_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = ends_mid_line(self.path)
        self._file = self.path.open("a", encoding="utf-8")
        if torn:
            self._file.write("\n")  # a killed writer's half line must not swallow our first one

    def _replay(self) -> set[str]:
        processes: set[str] = set()
        if not self.path.exists():
            return processes
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    process, event, role, problem_id, *values = json.loads(line)
                    if event in EVENTS:
                        getattr(self.run, f"record_{event}")(role, problem_id, *values)
                        processes.add(process)
                except (ValueError, TypeError):
                    continue  # a torn or foreign line
        return processes

    def set_price(self, model: str, per_mtok_in: float | None, per_mtok_out: float | None) -> None:
        super().set_price(model, per_mtok_in, per_mtok_out)
        self.run.set_price(model, per_mtok_in, per_mtok_out)

    def _log(self, event: str, role: str, problem_id: str, *values) -> None:
        getattr(self.run, f"record_{event}")(role, problem_id, *values)
        line = json.dumps([self.process, event, role, str(problem_id), *values])
        with self._write_lock:
            self._logged = True
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    def record_call(
        self,
        role: str,
        problem_id: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency_s: float,
        model: str = "",
    ) -> None:
        super().record_call(role, problem_id, prompt_tokens, completion_tokens, latency_s, model)
        self._log("call", role, problem_id, prompt_tokens, completion_tokens, latency_s, model)

    def record_cache_hit(
        self, role: str, problem_id: str, prompt_tokens: int, completion_tokens: int, model: str = ""
    ) -> None:
        super().record_cache_hit(role, problem_id, prompt_tokens, completion_tokens, model)
        self._log("cache_hit", role, problem_id, prompt_tokens, completion_tokens, model)

    def record_fault(self, role: str, problem_id: str, kind: str, retried: bool, model: str = "") -> None:
        super().record_fault(role, problem_id, kind, retried, model)
        self._log("fault", role, problem_id, kind, retried, model)

    def record_failure(self, role: str, problem_id: str, model: str = "") -> None:
        super().record_failure(role, problem_id, model)
        self._log("failure", role, problem_id, model)

    def run_snapshot(self) -> dict:
        """`snapshot()` of the whole run (every process in this run dir), plus how many processes that was."""
        return {**self.run.snapshot(), "processes": len(self.earlier_processes) + int(self._logged)}

    def close(self) -> None:
        with self._write_lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
