"""User-facing errors: one line that says what to change, never a traceback."""

from __future__ import annotations


class EconError(Exception):
    """An error caused by the user's input or environment; its message says what to change."""


class ConfigError(EconError):
    """A config value is wrong: the message names the key and the fix."""


class DataError(EconError):
    """A dataset file or row is wrong: the message names the file, row and field."""


class LLMError(EconError):
    """An LLM call failed for good (after retries, or on a non-retryable status)."""
