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


def run_or_exit(job: Callable[[], T]) -> T:
    """Call job(); an EconError becomes `error: <message>` on stderr and exit code 2."""
    try:
        return job()
    except EconError as error:
        message = redact_text(str(error)).splitlines()[0] if str(error) else type(error).__name__
        log.error(message)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
