"""A start-up check that a remote backend's server answers at all, before any problem is played.

Without it, an unreachable `model.base_url` shows up only after the first call has gone through
its whole retry budget (minutes of backoff), mid-run. Any HTTP reply counts as reachable, even
an error status: the probe sends no key and asks for nothing but a connection.
"""

from __future__ import annotations

import httpx

from econ.errors import ConfigError

PROBE_TIMEOUT_S = 5.0


def check_reachable(url: str, key: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise a one-line ConfigError naming `key` when no HTTP server accepts a connection at `url`."""
    try:
        with httpx.Client(timeout=timeout_s) as client:
            client.get(url)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError, httpx.UnsupportedProtocol) as error:
        raise ConfigError(
            f"{key}={url}: no server answers there ({type(error).__name__}); start the server or fix {key}"
        ) from None
    except httpx.TransportError:
        pass  # it accepted the connection; a slow or odd reply is for the retry layer to judge


def check_backend_reachable(backend: object, key: str = "model.base_url") -> None:
    """Probe a remote backend's `base_url`; local backends (no `base_url`) need no probe."""
    url = getattr(backend, "base_url", None)
    if url:
        check_reachable(str(url), key)
