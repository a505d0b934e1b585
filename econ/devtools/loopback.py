"""LoopbackServer: an OpenAI-compatible HTTP server on 127.0.0.1 with latency and fault injection.

For tests, benchmarks and experiments that need a fast, scriptable chat server.
It is not a model: nothing in econ's configs points at it.

    with LoopbackServer(latency_s=0.1, script=["429", "ok"]) as server:
        backend = OpenAICompatibleBackend(model="loopback", base_url=server.base_url)
        ...
        assert len(server.requests) == 2 and server.faults == {"429": 1}

Faults (`script` entries, or keys of `fault_rates`): "429" (with Retry-After),
"400", "401", "403", "404", "500", "502", "503", "timeout" (sleeps `timeout_sleep_s`
before answering), "malformed" (200 with a broken JSON body), "empty" (200 with
empty content), "reset" (connection closed with RST before any reply),
"truncated" (body shorter than its Content-Length). "ok" or None = a normal reply.
A script is consumed one entry per request; when exhausted, `fault_rates` apply.

Structured output: a request whose `response_format` asks for JSON (json_schema or json_object)
is answered in JSON by the default responders, as a grammar-constrained server would;
`reject_response_format=True` makes the server refuse any request carrying `response_format`
with a 400 naming it, as servers without structured output do.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATUS_FAULTS = {"400": 400, "401": 401, "403": 403, "404": 404, "429": 429, "500": 500, "502": 502, "503": 503}
OTHER_FAULTS = {"timeout", "malformed", "empty", "reset", "truncated"}
FAULT_KINDS = set(STATUS_FAULTS) | OTHER_FAULTS


def wants_json(request: dict) -> bool:
    """The request's `response_format` asks for a JSON reply (json_schema or json_object)."""
    kind = (request.get("response_format") or {}).get("type")
    return kind in ("json_schema", "json_object")


def _last_message(request: dict) -> str:
    messages = request.get("messages") or [{}]
    return str(messages[-1].get("content", ""))


JSON_COMMITMENT = json.dumps({"answer": "42", "justification": "The executors agree on 42."})
BOXED_REASONING = "Let me work through it step by step. Combining the quantities gives 42. \\boxed{42}"


def default_responder(request: dict) -> str:
    """A JSON commitment when response_format or the last message asks for JSON, else reasoning boxing 42."""
    return JSON_COMMITMENT if wants_json(request) or "json" in _last_message(request).lower() else BOXED_REASONING


def weak_model_responder(request: dict) -> str:
    """Like a small model: asked in words for a JSON commitment it answers in prose; JSON only under response_format."""
    if wants_json(request):
        return JSON_COMMITMENT
    if "json" in _last_message(request).lower():
        return "Sure! The solvers mostly agree, so the final answer should be 42."
    return BOXED_REASONING


def word_count(text: str) -> int:
    return len(text.split())


@dataclass
class LoopbackRequest:
    """One request as received: path, JSON body (None if unparseable), headers (lower-case names)."""

    path: str
    body: dict | None
    headers: dict[str, str]
    fault: str | None = None
    received_at: float = field(default_factory=time.monotonic)


class _BackloggedServer(ThreadingHTTPServer):
    # dozens of executors connect at once; the stdlib's listen backlog of 5 drops them
    request_queue_size = 256


class LoopbackServer:
    """Serve /v1/chat/completions, /chat/completions, /v1/embeddings and GET /v1/models.

    latency_s: sleep before each reply. prompt_tokens / completion_tokens: reported
    usage (None = word counts). capacity: requests served at once, others wait.
    fault_rates: {"429": 0.2, ...} drawn with a seeded RNG. script: explicit faults
    in order. reject_response_format: answer 400 to any chat request carrying `response_format`.
    port: 0 = any free port; a fixed one makes cache keys (which hold the base URL) repeat across runs.
    The server runs on daemon threads and stops on `close()` / context exit.
    """

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        responder: Callable[[dict], str] = default_responder,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        fault_rates: dict[str, float] | None = None,
        script: list[str | None] | None = None,
        seed: int = 0,
        retry_after_s: float | None = 1.0,
        timeout_sleep_s: float = 5.0,
        capacity: int = 64,
        embedding_dim: int = 16,
        reject_response_format: bool = False,
        port: int = 0,
    ) -> None:
        for kind in list(fault_rates or {}) + [s for s in script or [] if s not in (None, "ok")]:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; choose from {sorted(FAULT_KINDS)}")
        self.latency_s = latency_s
        self.responder = responder
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.fault_rates = dict(fault_rates or {})
        self.script = list(script or [])
        self.retry_after_s = retry_after_s
        self.timeout_sleep_s = timeout_sleep_s
        self.embedding_dim = embedding_dim
        self.reject_response_format = reject_response_format
        self.requests: list[LoopbackRequest] = []
        self.faults: Counter = Counter()
        self.max_in_flight = 0
        self._in_flight = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._capacity = threading.BoundedSemaphore(capacity)
        self._stopping = threading.Event()
        self._httpd = _BackloggedServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL (ends in /v1)."""
        return self.url + "/v1"

    def chat_requests(self) -> list[dict]:
        """Bodies of the chat-completion requests received, in order."""
        with self._lock:
            return [r.body for r in self.requests if r.path.endswith("/chat/completions") and r.body]

    def close(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on latency or "timeout"
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- called from handler threads -------------------------------------------------
    def _next_fault(self) -> str | None:
        with self._lock:
            if self.script:
                fault = self.script.pop(0)
                return None if fault in (None, "ok") else fault
            for kind, rate in self.fault_rates.items():
                if self._rng.random() < rate:
                    return kind
            return None

    def _record(self, request: LoopbackRequest) -> None:
        with self._lock:
            self.requests.append(request)
            if request.fault:
                self.faults[request.fault] += 1

    def _enter(self) -> None:
        self._capacity.acquire()
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
        self._capacity.release()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _chat_body(self, request: dict, text: str) -> dict:
        prompt = " ".join(str(m.get("content", "")) for m in request.get("messages") or [])
        p_tok = self.prompt_tokens if self.prompt_tokens is not None else word_count(prompt)
        c_tok = self.completion_tokens if self.completion_tokens is not None else word_count(text)
        return {
            "id": f"loopback-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "loopback"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": p_tok, "completion_tokens": c_tok, "total_tokens": p_tok + c_tok},
        }

    def _embedding(self, text: str) -> list[float]:
        """A deterministic unit vector from the text's hash (same text → same vector)."""
        raw = hashlib.sha256(text.encode("utf-8")).digest() * math.ceil(self.embedding_dim * 4 / 32)
        ints = struct.unpack(f"<{self.embedding_dim}i", raw[: self.embedding_dim * 4])
        norm = math.sqrt(sum(v * v for v in ints)) or 1.0
        return [v / norm for v in ints]


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real API server
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
            pass  # quiet: tests assert on server.requests instead

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send_json(200, {"object": "list", "data": [{"id": "loopback", "object": "model"}]})
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            path = self.path.split("?")[0].rstrip("/")
            is_chat = path in ("/v1/chat/completions", "/chat/completions")
            is_embed = path in ("/v1/embeddings", "/embeddings")
            fault = server._next_fault() if (is_chat or is_embed) else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            server._record(LoopbackRequest(path, body, headers, fault))
            if not (is_chat or is_embed):
                self._send_json(404, {"error": {"message": f"no route {path}"}})
                return
            if body is None:
                self._send_json(400, {"error": {"message": "request body is not JSON"}})
                return
            server._enter()
            try:
                server._sleep(server.latency_s)
                if fault is not None:
                    self._send_fault(fault, body, is_chat)
                elif is_chat and server.reject_response_format and "response_format" in body:
                    message = "Unrecognized request argument supplied: response_format"
                    self._send_json(
                        400,
                        {"error": {"message": message, "type": "invalid_request_error", "param": "response_format"}},
                    )
                elif is_chat:
                    self._send_json(200, server._chat_body(body, server.responder(body)))
                else:
                    self._send_embeddings(body)
            finally:
                server._leave()

        def _send_fault(self, fault: str, body: dict, is_chat: bool) -> None:
            if fault in STATUS_FAULTS:
                status = STATUS_FAULTS[fault]
                headers = {}
                if status == 429 and server.retry_after_s is not None:
                    headers["Retry-After"] = f"{server.retry_after_s:g}"
                self._send_json(status, {"error": {"message": f"injected {status}", "type": "loopback"}}, headers)
            elif fault == "timeout":
                server._sleep(server.timeout_sleep_s)
                self._send_json(200, server._chat_body(body, server.responder(body)))
            elif fault == "malformed":
                self._send_raw(200, b'{"choices": [{"message": {"content": "unterminated', "application/json")
            elif fault == "empty":
                self._send_json(200, server._chat_body(body, ""))
            elif fault == "reset":
                # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
            elif fault == "truncated":
                data = json.dumps(server._chat_body(body, server.responder(body))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        def _send_embeddings(self, body: dict) -> None:
            inputs = body.get("input")
            texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
            data = [
                {"object": "embedding", "index": i, "embedding": server._embedding(str(t))} for i, t in enumerate(texts)
            ]
            tokens = sum(word_count(str(t)) for t in texts)
            self._send_json(
                200,
                {
                    "object": "list",
                    "model": body.get("model", "loopback"),
                    "data": data,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                },
            )

        def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
            self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

        def _send_raw(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (e.g. its timeout fired first)

    return Handler
