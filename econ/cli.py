"""Run an entry point so that user errors print one line and exit non-zero, never a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from econ.config import redact_text
from econ.errors import EconError

T = TypeVar("T")
EXIT_USER_ERROR = 2

log = logging.getLogger(__name__)


def error_line(error: BaseException) -> str:
    """The first line of an error's message with secrets masked (its type name when it has none)."""
    lines = [line for line in redact_text(str(error)).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def run_or_exit(job: Callable[[], T]) -> T:
    """Call job(); an EconError becomes `error: <message>` on stderr and exit code 2."""
    try:
        return job()
    except EconError as error:
        message = error_line(error)
        log.error(message)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
