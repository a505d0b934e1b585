"""Structured output on OpenAI-style chat APIs: `response_format` with a JSON schema, or plain requests once refused.

OpenAI-compatible servers (vLLM, llama.cpp server, LM Studio, Ollama) and Together take the same
`{"type": "json_schema", "json_schema": {"name": ..., "schema": ...}}`; a server without structured
output answers such a request with a 400 (or 422). `StructuredOutput` then sends the plain request,
and keeps sending plain requests for the rest of the backend's life.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from econ.llm.base import Completion, JsonSchema
from econ.llm.faults import RequestRejected

log = logging.getLogger(__name__)

REFUSAL_STATUSES = frozenset({400, 422})  # how servers refuse a parameter they do not know or support
SCHEMA_NAME = "reply"  # the schema's name in the request; OpenAI requires one


def response_format(schema: JsonSchema) -> dict:
    """The `response_format` that asks for a reply following `schema` (OpenAI and Together alike)."""
    return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": schema}}


class StructuredOutput:
    """One backend's structured-output state: `supported` until its server refuses `response_format`.

    A refusal is a 400/422 to a request carrying `response_format` whose plain twin (the same request
    without it) then succeeds: only the parameter can have been refused. It is logged once and
    remembered, so later requests go out plain at once; it is never a retryable fault. When the plain
    twin fails too, its error is raised and nothing is remembered (the request, not the parameter,
    was wrong). The plain twin is what `LLMClient` then caches, under the plain request's key.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.supported = True

    async def complete(
        self, send: Callable[..., Awaitable[Completion]], request: dict, json_schema: JsonSchema | None
    ) -> Completion:
        """`send(**request)`, with `response_format` for `json_schema` while the server accepts it."""
        if json_schema is None or not self.supported:
            return await send(**request)
        try:
            return await send(**request, response_format=response_format(json_schema))
        except RequestRejected as rejected:
            if rejected.status not in REFUSAL_STATUSES:
                raise
            refusal = rejected
        completion = await send(**request)
        if self.supported:
            self.supported = False
            log.warning(
                "%s: the server refused response_format (%s); sending plain requests from now on, "
                "their JSON read from the text",
                self.label,
                refusal,
            )
        return completion
