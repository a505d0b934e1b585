"""Files a user hands us, checked by what can be wrong with them, before any model loads or LLM call.

Every check reads and never writes: a bad file is reported, never repaired, replaced or removed.
What can be wrong, in order: missing; a directory where a file is wanted; unreadable; empty;
not the format it should be (random bytes, text, a zip, truncated); from another econ version
or configuration. Each raises ConfigError with one line naming the key and what to do.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from econ.errors import ConfigError

SQLITE_HEADER = b"SQLite format 3\x00"


def error_reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error).strip().splitlines()[0:1]
    text = text if isinstance(text, str) else (text[0] if text else "")
    return f"{type(error).__name__}: {text[:160]}" if text else type(error).__name__


def readable_file(path: str | Path, key: str, fix: str, allow_empty: bool = False) -> Path:
    """`path` is a regular file this process can read (and, unless allowed, not empty)."""
    file = Path(path).expanduser()
    if not file.exists():
        raise ConfigError(f"{key}={path}: no such file; {fix}")
    if file.is_dir():
        raise ConfigError(f"{key}={path}: is a directory, not a file; {fix}")
    try:
        with file.open("rb") as handle:  # root reads files whatever their mode: probe by opening
            first = handle.read(1)
    except OSError as error:
        raise ConfigError(
            f"{key}={path}: cannot read it ({error_reason(error)}); fix its permissions or {fix}"
        ) from None
    if not first and not allow_empty:
        raise ConfigError(f"{key}={path}: the file is empty; {fix}")
    return file


def readable_dir(path: str | Path, key: str, fix: str) -> Path:
    """`path` is a directory this process can list."""
    directory = Path(path).expanduser()
    if not directory.exists():
        raise ConfigError(f"{key}={path}: no such directory; {fix}")
    if not directory.is_dir():
        raise ConfigError(f"{key}={path}: is a file, not a directory; {fix}")
    try:
        next(directory.iterdir(), None)
    except OSError as error:
        raise ConfigError(
            f"{key}={path}: cannot read it ({error_reason(error)}); fix its permissions or {fix}"
        ) from None
    return directory


def read_json_object(path: str | Path, key: str, fix: str) -> dict[str, Any]:
    """A JSON file whose top level is an object."""
    file = readable_file(path, key, fix)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{key}={path}: not JSON ({error_reason(error)}); {fix}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{key}={path}: holds a JSON {type(data).__name__}, not an object; {fix}")
    return data


def check_sqlite(path: str | Path, key: str, tables: dict[str, set[str]]) -> None:
    """An existing cache file is an sqlite database whose `tables` (when present) have these columns.

    A missing or empty file is fine: sqlite creates it. Opened read-only; nothing is written.
    """
    file = Path(path).expanduser()
    fix = f"point {key} at another file, or move this one aside"
    if not file.exists():
        if file.parent.exists() and not file.parent.is_dir():
            raise ConfigError(f"{key}={path}: {file.parent} is a file, not a directory; {fix}")
        return
    readable_file(file, key, fix, allow_empty=True)
    with file.open("rb") as handle:
        header = handle.read(100)
    if not header:
        return
    if not header.startswith(SQLITE_HEADER) or len(header) < 100:
        raise ConfigError(f"{key}={path}: not an sqlite database; {fix}")
    page_size = int.from_bytes(header[16:18], "big") or 1
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] == header[92:96] and file.stat().st_size < pages * page_size:  # the header's size is valid
        raise ConfigError(
            f"{key}={path}: a truncated sqlite database ({file.stat().st_size} of {pages * page_size} bytes); {fix}"
        )
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            for table, columns in tables.items():
                found = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                if found and found != columns:
                    raise ConfigError(
                        f"{key}={path}: its {table!r} table is from another econ version "
                        f"(columns {', '.join(sorted(found))}); {fix}"
                    )
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise ConfigError(f"{key}={path}: a damaged sqlite database ({error_reason(error)}); {fix}") from None


def check_caches(cfg: Any) -> None:
    """The LLM and embedding cache files (often one file) are sqlite caches of this econ version, or new."""
    from omegaconf import OmegaConf

    from econ.embed.cache import EMBEDDING_COLUMNS
    from econ.llm.cache import COMPLETION_COLUMNS, SAMPLED_COLUMNS

    wanted = {
        "llm.cache_path": {"completions": set(COMPLETION_COLUMNS), "sampled": set(SAMPLED_COLUMNS)},
        "embedder.cache_path": {"embeddings": EMBEDDING_COLUMNS},
    }
    for key, tables in wanted.items():
        path = OmegaConf.select(cfg, key, default=None)
        if path and (key != "llm.cache_path" or OmegaConf.select(cfg, "llm.cache", default=False)):
            check_sqlite(str(path), key, tables)
