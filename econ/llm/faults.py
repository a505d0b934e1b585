"""How backends report failures to the retry layer: a retryable `Fault`, or a final `LLMError`.

Retryable: 429, 5xx, timeouts, connection errors, malformed bodies, empty completions.
Final: any other status (400, 401, 403, 404, ...). Messages never contain an API key.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
from types import ModuleType

from econ.errors import ConfigError, LLMError
from econ.llm.base import Completion

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# What to change, per final status; {env} is the key's environment variable.
_HINTS = {
    400: "the server rejected the request; check the model name and sampling values",
    401: "check {env}",
    403: "check {env} and that it may use this model",
    404: "check model.model and model.base_url",
}
# Key-shaped tokens, masked in case a server echoes one back in an error body.
_KEY_LIKE = re.compile(r"\b(sk|tgp|key)[-_][A-Za-z0-9_\-]{8,}")


class RequestRejected(LLMError):
    """A final HTTP status (400, 401, 404, 422, ...): the server refused the request as sent; `status` says how."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Fault(Exception):
    """A failed attempt worth retrying. `kind` is the usage counter it lands in."""

    def __init__(self, kind: str, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.kind = kind  # "429" | "5xx" | "timeout" | "connection" | "malformed" | "empty"
        self.detail = detail
        self.retry_after_s = retry_after_s


def read_api_key(env: str, label: str, required: bool = True) -> str | None:
    """The API key from environment variable `env` (never from config, so it never reaches a log)."""
    key = os.environ.get(env, "").strip()
    if not key and required:
        raise ConfigError(f"{label}: environment variable {env} is not set; export {env}=<your key>")
    return key or None


def redact(text: str, secret: str | None = None) -> str:
    """`text` on one line, at most 200 characters, with `secret` and key-shaped tokens masked."""
    if secret:
        text = text.replace(secret, "***")
    text = _KEY_LIKE.sub("***", text)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_fault(label: str, status: int, headers, body: str, key_env: str | None, secret: str | None):
    """The `Fault` (retryable) or `RequestRejected` (final) for an HTTP error status."""
    reason = _REASONS.get(status, "HTTP error")
    if status == 429:
        return Fault("429", f"{label}: 429 {reason}", parse_retry_after(headers.get("retry-after")))
    if status >= 500 or status == 408:
        return Fault("5xx" if status >= 500 else "timeout", f"{label}: {status} {reason}")
    hint = _HINTS.get(status, "the request was refused; check the model config")
    hint = hint.format(env=key_env or "the API key")
    detail = redact(body, secret)
    suffix = f" (server said: {detail})" if detail and status not in (401, 403) else ""
    return RequestRejected(f"{label}: {status} {reason} — {hint}{suffix}", status)


def sdk_fault(exc: BaseException, sdk: ModuleType, label: str, key_env: str | None, secret: str | None):
    """Classify an exception raised by a Stainless-generated SDK (`together`, `openai`).

    Returns a `Fault` or an `LLMError`, or None when `exc` is not an SDK/transport error.
    Order matters: APITimeoutError subclasses APIConnectionError.
    """
    if isinstance(exc, sdk.APITimeoutError):
        return Fault("timeout", f"{label}: request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        return Fault("connection", f"{label}: connection error ({type(exc.__cause__ or exc).__name__})")
    if isinstance(exc, sdk.APIStatusError):
        response = exc.response
        return status_fault(label, exc.status_code, response.headers, _body_text(response), key_env, secret)
    if isinstance(exc, (sdk.APIResponseValidationError, json.JSONDecodeError, UnicodeDecodeError)):
        return Fault("malformed", f"{label}: unparseable response body")
    return None


def _body_text(response) -> str:
    """The error message in a JSON error body, else the raw body text."""
    try:
        text = response.text
    except Exception:  # the body was never read (streamed or closed)
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err)
        return str(err)
    return text


def check_text(label: str, text: object) -> str:
    """The completion text, or a retryable "empty" fault when there is none."""
    if not isinstance(text, str) or not text.strip():
        raise Fault("empty", f"{label}: empty completion")
    return text


def chat_response_parts(label: str, response) -> tuple[str, int, int]:
    """(text, prompt_tokens, completion_tokens) from an SDK chat response; Fault if malformed or empty.

    The SDKs build response objects without validation, so a well-formed JSON body
    that is not a chat completion shows up as missing attributes, or as a plain
    string when the content type was not JSON.
    """
    try:
        message = response.choices[0].message
        text = message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        raise Fault("malformed", f"{label}: response has no choices[0].message") from None
    text = check_text(label, text)
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    return text, prompt_tokens, completion_tokens


async def create_chat_completion(
    client, sdk: ModuleType, label: str, key_env: str | None, secret: str | None, **kwargs
):
    """One SDK chat call (OpenAI-style client) as a Completion; SDK errors become Faults or LLMErrors."""
    start = time.perf_counter()
    try:
        response = await client.chat.completions.create(**kwargs)
    except Exception as exc:
        fault = sdk_fault(exc, sdk, label, key_env, secret)
        if fault is None:
            raise
        raise fault from None
    text, prompt_tokens, completion_tokens = chat_response_parts(label, response)
    return Completion(text, prompt_tokens, completion_tokens, latency_s=time.perf_counter() - start)
