"""API keys from an env file named by ECON_ENV_FILE (KEY=VALUE lines), read at start-up, never saved.

The file sets only variables the environment does not already have: an exported key wins.
Errors name the file and the line number, never the line itself (it may hold a key).
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path

from econ.errors import ConfigError

ENV_FILE_VAR = "ECON_ENV_FILE"
_ASSIGNMENT = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")


def parse_env_file(path: Path) -> dict[str, str]:
    """`KEY=VALUE` per line; blank lines, `# comments`, an `export ` prefix and matching quotes allowed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise ConfigError(f"{ENV_FILE_VAR}={path}: cannot read it ({reason})") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.fullmatch(line)
        if match is None:
            raise ConfigError(f"{ENV_FILE_VAR}={path}: line {number} is not KEY=VALUE; fix or remove it")
        name, value = match.group(1), match.group(2).strip()
        if "\0" in value:  # the environment cannot hold it
            raise ConfigError(f"{ENV_FILE_VAR}={path}: line {number} holds a NUL byte; fix or remove it")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


def load_env_file(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Set the variables of the file named by ECON_ENV_FILE that `environ` lacks; return their names."""
    path = environ.get(ENV_FILE_VAR, "").strip()
    if not path:
        return []
    file = Path(path).expanduser()
    if file.is_dir():
        raise ConfigError(f"{ENV_FILE_VAR}={path}: is a directory; point it at a file of KEY=VALUE lines or unset it")
    if not file.is_file():
        raise ConfigError(f"{ENV_FILE_VAR}={path}: no such file; point it at a file of KEY=VALUE lines or unset it")
    added = {name: value for name, value in parse_env_file(file).items() if name not in environ}
    environ.update(added)
    return list(added)
