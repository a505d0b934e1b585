"""Shared fixtures. LLM layer: loopback OpenAI-compatible servers, closed after each test."""

from __future__ import annotations

import pytest

from econ.devtools.loopback import LoopbackServer


@pytest.fixture
def loopback_factory():
    """`make(**kwargs) -> LoopbackServer`; every server made is closed at teardown."""
    servers: list[LoopbackServer] = []

    def make(**kwargs) -> LoopbackServer:
        server = LoopbackServer(**kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def loopback(loopback_factory) -> LoopbackServer:
    """A fault-free loopback server with no latency."""
    return loopback_factory()


@pytest.fixture
def no_api_keys(monkeypatch):
    """Hide real API keys so no test can reach a paid API by accident."""
    for env in ("TOGETHER_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(env, raising=False)
