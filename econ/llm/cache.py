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
from collections.abc import Callable
from pathlib import Path

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from econ.errors import ConfigError, EconError
from econ.llm.base import Completion, JsonSchema, Message, Sampling
from econ.run.writable import replace_text

BUSY_TIMEOUT_MS = 60_000
WAL_RETRY_S = 0.05  # between attempts to switch a file another process holds to WAL
COMPLETION_COLUMNS = ("key", "text", "prompt_tokens", "completion_tokens", "latency_s", "created")  # table order
SAMPLING_COLUMNS = ("call_key", "temperature", "penalty")  # the `sampled` table, beside each key
SAMPLED_COLUMNS = ("key", *SAMPLING_COLUMNS, "carried")  # the `sampled` table, in table order
DUMP_COLUMNS = COMPLETION_COLUMNS + SAMPLING_COLUMNS


def _is_locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


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
        # Switching a new file to WAL needs it alone; sqlite answers "locked" at once, without its busy wait,
        # while another process holds it (two jobs of a sweep starting together), so wait here instead.
        for attempt in Retrying(
            retry=retry_if_exception(_is_locked),
            stop=stop_after_delay(BUSY_TIMEOUT_MS / 1000),
            wait=wait_fixed(WAL_RETRY_S),
            reraise=True,
        ):
            with attempt:
                conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"{key}={path}: cannot open the cache ({exc}); point it at a writable file") from None
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection):
    """One write transaction on an autocommit connection (the caller serialises): all of it is written, or none."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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


@dataclasses.dataclass(frozen=True)
class SampledCall:
    """A call apart from its sampling action: `call_key` is the cache key of the call at temperature
    0 and penalty 0, so two calls that differ only in [T, p] share it."""

    call_key: str
    temperature: float
    penalty: float

    @classmethod
    def of(cls, sampling: Sampling, key_of: Callable[[Sampling], str]) -> SampledCall:
        """The call `key_of` keys (its `cache_key` at a given sampling), sampled at `sampling`."""
        bare = dataclasses.replace(sampling, temperature=0.0, repetition_penalty=0.0)
        return cls(key_of(bare), float(sampling.temperature), float(sampling.repetition_penalty))


_NUMBER = (int, float)
DUMP_TYPES = (str, str, int, int, _NUMBER, _NUMBER, str, _NUMBER, _NUMBER)  # DUMP_COLUMNS' types
_N_COMPLETION = len(COMPLETION_COLUMNS)
_INSERT_COMPLETION = f"INSERT OR IGNORE INTO completions VALUES ({', '.join('?' * _N_COMPLETION)})"  # table order
_SAMPLED_VALUES = f"INTO sampled ({', '.join(SAMPLED_COLUMNS)}) VALUES ({', '.join('?' * len(SAMPLED_COLUMNS))})"
_INSERT_SAMPLED = f"INSERT OR IGNORE {_SAMPLED_VALUES}"
_CARRY_SAMPLED = f"INSERT OR REPLACE {_SAMPLED_VALUES}"  # a loaded dump marks its calls carried


def read_dump(path: str | Path) -> list[tuple]:
    """The entries of a `ResponseCache.dump` file, checked line by line; a bad line is one error naming the file."""
    entries = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            entry = tuple(record[column] for column in COMPLETION_COLUMNS)
            entry += tuple(record.get(column) for column in SAMPLING_COLUMNS)  # absent in older dumps
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}:{number}: not a response dump ({exc}); restore the file from git") from None
        # a reply comes with its whole call (key, T, p) or with none of it
        checked = entry[:_N_COMPLETION] if all(v is None for v in entry[_N_COMPLETION:]) else entry
        if not all(isinstance(value, kind) for value, kind in zip(checked, DUMP_TYPES, strict=False)):
            raise ConfigError(f"{path}:{number}: a field of the wrong type; restore the file from git")
        entries.append(entry)
    return entries


def _create_tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS completions ("
        " key TEXT PRIMARY KEY, text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,"
        " completion_tokens INTEGER NOT NULL, latency_s REAL NOT NULL, created REAL NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS sampled ("
        " key TEXT PRIMARY KEY, call_key TEXT NOT NULL, temperature REAL NOT NULL, penalty REAL NOT NULL,"
        " carried INTEGER NOT NULL)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS sampled_by_call ON sampled (call_key)")


def _cached(row: tuple | None) -> Completion | None:
    """A stored (text, prompt_tokens, completion_tokens, latency_s) row as a cached Completion."""
    if row is None:
        return None
    text, prompt_tokens, completion_tokens, latency_s = row
    return Completion(text, prompt_tokens, completion_tokens, latency_s=latency_s, cached=True, attempts=0)


class ResponseCache:
    """Completions by `cache_key`. The first writer of a key wins, so every reader sees one answer.

    Beside each key, the `sampled` table keeps the call's `SampledCall`, so `get_near` can serve a
    call whose sampling action differs from a carried one (`load`) by float noise: a policy rebuilt
    on another CPU replays the replies its first run got (see llm.cache_tolerance). Only carried
    replies are served so: two live calls that differ in their action never share a reply.

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
            try:
                with transaction(conn):  # all tables, or none
                    _create_tables(conn)
            except sqlite3.Error as exc:
                conn.close()
                raise ConfigError(
                    f"llm.cache_path={self.path}: cannot set up the cache's tables ({exc}); "
                    "point it at a writable file of this econ version, or move the file aside"
                ) from None
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
        return _cached(row)

    def get_near(self, call: SampledCall, tolerance: float) -> Completion | None:
        """The carried reply to `call` at the nearest action with |ΔT| and |Δp| both <= tolerance, or None.

        T = 0 (greedy decoding) and T > 0 never match each other.
        """
        t, p = call.temperature, call.penalty
        with self._lock, self._failures():
            row = (
                self._connect()
                .execute(
                    "SELECT c.text, c.prompt_tokens, c.completion_tokens, c.latency_s"
                    " FROM sampled s JOIN completions c ON c.key = s.key"
                    " WHERE s.call_key = ? AND s.carried AND (s.temperature = 0) = (? = 0)"
                    " AND abs(s.temperature - ?) <= ? AND abs(s.penalty - ?) <= ?"
                    " ORDER BY abs(s.temperature - ?) + abs(s.penalty - ?), s.key LIMIT 1",
                    (call.call_key, t, t, tolerance, p, tolerance, t, p),
                )
                .fetchone()
            )
        return _cached(row)

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

    def put(self, key: str, completion: Completion, call: SampledCall | None = None) -> None:
        row = (key, completion.text, completion.prompt_tokens, completion.completion_tokens, completion.latency_s)
        with self._lock, self._failures(), transaction(self._connect()) as conn:
            conn.execute(_INSERT_COMPLETION, (*row, time.time()))
            if call is not None:
                conn.execute(_INSERT_SAMPLED, (key, call.call_key, call.temperature, call.penalty, 0))

    def dump(self, path: str | Path, skip: set[str] = frozenset()) -> int:
        """Write the entries whose key is not in `skip` to a JSONL file, oldest first; how many.

        With `load`, this carries a cache to a machine that does not keep it (a study in sittings);
        the file holds keys (hashes), replies, token counts and sampling actions: no prompt, no secret.
        """
        columns = ", ".join(
            [*(f"c.{name}" for name in COMPLETION_COLUMNS), *(f"s.{name}" for name in SAMPLING_COLUMNS)]
        )
        with self._lock, self._failures():
            rows = self._connect().execute(
                f"SELECT {columns} FROM completions c LEFT JOIN sampled s ON s.key = c.key ORDER BY c.created, c.key"
            )
            entries = [dict(zip(DUMP_COLUMNS, row, strict=True)) for row in rows if row[0] not in skip]
        if entries:
            path = Path(path)
            if path.exists():
                raise EconError(f"{path} exists: a dump never replaces one; name another file")
            replace_text(path, "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries))
        return len(entries)

    def load(self, path: str | Path) -> int:
        """Add the entries of a `dump` file (the first writer of a key still wins); how many lines it held.

        Their calls are marked carried: `get_near` serves them.
        """
        entries = read_dump(path)
        sampled = [(e[0], *e[_N_COMPLETION:], 1) for e in entries if e[_N_COMPLETION] is not None]
        with self._lock, self._failures(), transaction(self._connect()) as conn:  # one transaction: thousands of lines
            conn.executemany(_INSERT_COMPLETION, [e[:_N_COMPLETION] for e in entries])
            conn.executemany(_CARRY_SAMPLED, sampled)
        return len(entries)

    def __len__(self) -> int:
        with self._lock:
            return self._connect().execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
