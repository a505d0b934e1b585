"""Persistent response cache: sqlite in WAL mode, shared safely by threads and processes."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from econ.errors import ConfigError, EconError
from econ.llm.base import Completion, JsonSchema, Message, Sampling
from econ.run.writable import replace_text

BUSY_TIMEOUT_MS = 60_000
DUMP_COLUMNS = ("key", "text", "prompt_tokens", "completion_tokens", "latency_s", "created")  # table order
COMPLETION_COLUMNS = set(DUMP_COLUMNS)


def open_sqlite(path: str | Path, key: str = "llm.cache_path") -> sqlite3.Connection:
    """A connection usable from any thread (callers serialise), waiting on locks instead of failing.

    WAL lets readers run while one writer writes; busy_timeout makes a second
    process wait for the write lock rather than raise "database is locked".
    """
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"{key}={path}: cannot open the cache ({exc}); point it at a writable file") from None
    return conn


def cache_key(
    backend: str,
    model: str,
    messages: list[Message],
    sampling: Sampling,
    sample_index: int = 0,
    salt: str = "",
    json_schema: JsonSchema | None = None,
) -> str:
    """sha256 of the canonical JSON of everything that decides a completion (seed included).

    A structured-output schema enters the key only when one is asked for, so plain requests
    keep the keys they always had.
    """
    payload = {
        "backend": backend,
        "model": model,
        "salt": salt,
        "messages": [dict(m) for m in messages],
        "sampling": dataclasses.asdict(sampling),
        "sample_index": int(sample_index),
    }
    if json_schema is not None:
        payload["json_schema"] = json_schema
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


DUMP_TYPES = (str, str, int, int, (int, float), (int, float))  # DUMP_COLUMNS' types


def read_dump(path: str | Path) -> list[tuple]:
    """The entries of a `ResponseCache.dump` file, checked line by line; a bad line is one error naming the file."""
    entries = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            entry = tuple(record[column] for column in DUMP_COLUMNS)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number}: not a response dump ({exc}); restore the file from git") from None
        if not all(isinstance(value, kind) for value, kind in zip(entry, DUMP_TYPES, strict=True)):
            raise ConfigError(f"{path}:{number}: a field of the wrong type; restore the file from git")
        entries.append(entry)
    return entries


class ResponseCache:
    """Completions by `cache_key`. The first writer of a key wins, so every reader sees one answer.

    One connection per process, guarded by a lock (re-opened after a fork).
    Calls are short; the async client runs them in a worker thread.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._pid = -1
        self._conn: sqlite3.Connection | None = None
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            conn = open_sqlite(self.path)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS completions ("
                " key TEXT PRIMARY KEY, text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,"
                " completion_tokens INTEGER NOT NULL, latency_s REAL NOT NULL, created REAL NOT NULL)"
            )
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def get(self, key: str) -> Completion | None:
        with self._lock, self._failures():
            row = (
                self._connect()
                .execute(
                    "SELECT text, prompt_tokens, completion_tokens, latency_s FROM completions WHERE key = ?", (key,)
                )
                .fetchone()
            )
        if row is None:
            return None
        text, prompt_tokens, completion_tokens, latency_s = row
        return Completion(text, prompt_tokens, completion_tokens, latency_s=latency_s, cached=True, attempts=0)

    @contextlib.contextmanager
    def _failures(self):
        """An sqlite error mid-run (disk full, file damaged) is one line; the answers stored so far stay."""
        try:
            yield
        except sqlite3.Error as exc:
            raise EconError(
                f"llm.cache_path={self.path}: the cache failed ({exc}); free space or move the file "
                "aside, then re-run the same command to resume"
            ) from None

    def put(self, key: str, completion: Completion) -> None:
        with self._lock, self._failures():
            self._connect().execute(
                "INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    completion.text,
                    completion.prompt_tokens,
                    completion.completion_tokens,
                    completion.latency_s,
                    time.time(),
                ),
            )

    def dump(self, path: str | Path, skip: set[str] = frozenset()) -> int:
        """Write the entries whose key is not in `skip` to a JSONL file, oldest first; how many.

        With `load`, this carries a cache to a machine that does not keep it (a study in sittings);
        the file holds keys (hashes), replies and token counts: no prompt, no secret.
        """
        with self._lock, self._failures():
            rows = self._connect().execute(f"SELECT {', '.join(DUMP_COLUMNS)} FROM completions ORDER BY created, key")
            entries = [dict(zip(DUMP_COLUMNS, row, strict=True)) for row in rows if row[0] not in skip]
        if entries:
            path = Path(path)
            if path.exists():
                raise EconError(f"{path} exists: a dump never replaces one; name another file")
            replace_text(path, "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries))
        return len(entries)

    def load(self, path: str | Path) -> int:
        """Add the entries of a `dump` file (the first writer of a key still wins); how many lines it held."""
        entries = read_dump(path)
        with self._lock, self._failures():
            conn = self._connect()
            conn.execute("BEGIN")  # one transaction: thousands of lines in a moment
            try:
                conn.executemany("INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?, ?, ?)", entries)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return len(entries)

    def __len__(self) -> int:
        with self._lock:
            return self._connect().execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
