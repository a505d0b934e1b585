"""Continuous batching on one llama.cpp context: concurrent requests decode together, one sequence each.

One `BatchEngine` owns one llama.cpp context over an already loaded model (one copy of the
weights) and one scheduler thread, the only thread that touches that context. Each step runs
one `llama_decode` holding the next token of every generating sequence, then evaluates the
next chunk of one waiting prompt; each sequence samples with its request's own sampler chain
(repeat penalty, temperature, top_p, seed, grammar). A request starts as soon as a sequence is
free: nobody waits for a whole batch to finish.

Why it is laid out this way (measured on SmolLM2 Q4_1, llama-cpp-python 0.3.36, CPU): llama.cpp's
numbers for a token depend on how its prompt was cut into decode calls (one chunk of 107 tokens
vs 5 + 102: logits differ by up to 0.7) and, in a unified KV cache, on where its cells lie; they
do not depend on how many other sequences decode in the same step when each sequence has its own
KV stream (differences exactly 0). So the cache is split, one stream of `n_ctx_seq` cells per
sequence (`kv_unified=false`, memory n_seq × n_ctx_seq cells); every prompt is evaluated on its
own in chunks of `n_batch` from position 0, as a freshly loaded `Llama` evaluates it; and the
reply to a request depends on that request alone, never on what else runs or ran before.

Shared prompts are evaluated once: a request whose prompt equals one already evaluated (the N
executors of a round, or a retry) copies that sequence's KV stream and samples its first token
from the saved prompt logits, which is exactly what evaluating it again would give. Prompts that
only share a prefix are evaluated in full, since reusing a prefix would cut the prompt into
different chunks and change its numbers.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

# llama-cpp-python's create_chat_completion defaults for what econ does not set, so that both
# paths sample from the same distribution
TOP_K = 40
MIN_P = 0.05
TYPICAL_P = 1.0
PENALTY_LAST_N = 64


@dataclass
class GenRequest:
    """One completion to generate: prompt tokens, when to stop, and how to sample."""

    tokens: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    repeat_penalty: float
    seed: int
    grammar: object | None = None  # a llama_cpp.LlamaGrammar
    stop: list[bytes] = field(default_factory=list)
    future: Future = field(default_factory=Future)


@dataclass
class GenResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


@dataclass
class _Slot:
    """One sequence of the context: the prompt its KV stream holds and the request it serves."""

    seq_id: int
    prompt: list[int] = field(default_factory=list)  # its K/V are in cells [0, len(prompt)) once `logits` is set
    logits: np.ndarray | None = None  # of the prompt's last position
    request: GenRequest | None = None
    pending: int = 0  # prompt tokens evaluated so far while prefilling
    source: _Slot | None = None  # waits for this slot's prompt, then copies it
    sampler: object | None = None
    out: list[int] = field(default_factory=list)
    next_token: int | None = None  # sampled, not yet evaluated
    last_used: int = 0


class BatchEngine:
    """Serves `GenRequest`s from many threads on one context of `llm`'s model (see the module docstring)."""

    def __init__(self, llm, n_seq: int, n_ctx_seq: int, n_threads: int, n_batch: int = 512) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self._lib = llama_cpp
        self._internals = _internals
        self.llm = llm
        self.n_seq = int(n_seq)
        self.n_ctx_seq = int(n_ctx_seq)
        self.n_threads = int(n_threads)
        self.n_batch = min(int(n_batch), self.n_ctx_seq)  # what `Llama` uses: min(n_ctx, n_batch)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.n_ctx_seq * self.n_seq
        params.n_batch = params.n_ubatch = max(self.n_batch, self.n_seq)
        params.n_seq_max = self.n_seq
        params.n_threads = params.n_threads_batch = self.n_threads
        params.kv_unified = False  # one stream per sequence: batch-independent numbers (module docstring)
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as `Llama(flash_attn=False)`
        params.no_perf = True
        self._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self._threads_now = self.n_threads
        self._mem = llama_cpp.llama_get_memory(self._ctx.ctx)
        self._batch = llama_cpp.llama_batch_init(params.n_batch, 0, 1)
        self._vocab = llm._model.vocab
        self._n_vocab = llm.n_vocab()
        self._token_data = (llama_cpp.llama_token_data * self._n_vocab)()
        self._token_view = np.ctypeslib.as_array(self._token_data)  # structured view: id, logit, p
        self._slots = [_Slot(seq_id=i) for i in range(self.n_seq)]
        self._queue: list[GenRequest] = []
        self._cond = threading.Condition()
        self._closed = False
        self._clock = 0
        self.prompt_tokens_evaluated = 0  # prompt tokens decoded so far (shared prompts count once)
        self._thread = threading.Thread(target=self._run, name="llama-batch", daemon=True)
        self._thread.start()

    # ---- called from any thread -------------------------------------------------------------

    def submit(self, request: GenRequest) -> Future:
        """Queue a request; its future gets a `GenResult`, or the exception that failed it alone."""
        if len(request.tokens) >= self.n_ctx_seq:
            request.future.set_exception(
                ValueError(f"Requested tokens ({len(request.tokens)}) exceed context window of {self.n_ctx_seq}")
            )
            return request.future
        request.max_tokens = max(1, min(request.max_tokens, self.n_ctx_seq - len(request.tokens)))
        with self._cond:
            if self._closed:
                raise RuntimeError("the llama.cpp batch engine is closed")
            self._queue.append(request)
            self._cond.notify()
        return request.future

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        self._lib.llama_batch_free(self._batch)
        self._ctx.close()

    # ---- the scheduler thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._queue and not self._busy():
                    self._cond.wait()
                if self._closed:
                    self._abandon()
                    return
                admitted = self._admit()
            for slot, request in admitted:
                self._start(slot, request)
            try:
                self._copy_ready_prompts()
                self._decode_generating()
                self._prefill_one()
            except RuntimeError as exc:  # a failed decode fails the requests in flight, never the engine
                for slot in self._slots:
                    if slot.request is not None:
                        self._fail(slot, exc)

    def _busy(self) -> bool:
        return any(slot.request is not None for slot in self._slots)

    def _abandon(self) -> None:
        closed = RuntimeError("the llama.cpp batch engine was closed")
        for slot in self._slots:
            if slot.request is not None:
                self._fail(slot, closed)
        for request in self._queue:
            request.future.set_exception(closed)

    def _admit(self) -> list[tuple[_Slot, GenRequest]]:
        """Pair queued requests (in arrival order) with free slots: the one holding the same prompt, else the LRU."""
        admitted = []
        while self._queue:
            free = [s for s in self._slots if s.request is None]
            if not free:
                break
            request = self._queue.pop(0)
            slot = max(free, key=lambda s: (s.logits is not None and s.prompt == request.tokens, -s.last_used))
            slot.request = request  # reserved now, set up outside the lock
            admitted.append((slot, request))
        return admitted

    def _start(self, slot: _Slot, request: GenRequest) -> None:
        """Set a slot up: reuse the prompt it holds, wait for a slot holding that prompt, or evaluate it."""
        self._clock += 1
        slot.last_used = self._clock
        slot.out, slot.next_token, slot.source = [], None, None
        slot.sampler = self._sampler(request)
        if slot.logits is not None and slot.prompt == request.tokens:
            self._lib.llama_memory_seq_rm(self._mem, slot.seq_id, len(slot.prompt), -1)
            self._first_token(slot)
            return
        holders = [
            s
            for s in self._slots
            if s is not slot
            and s.prompt == request.tokens
            and (s.logits is not None or (s.request is not None and s.source is None))
        ]
        self._lib.llama_memory_seq_rm(self._mem, slot.seq_id, -1, -1)
        slot.prompt, slot.logits, slot.pending = list(request.tokens), None, 0
        if holders:
            slot.source = holders[0]

    def _sampler(self, request: GenRequest):
        sampler = self._internals.LlamaSampler()
        sampler.add_penalties(
            n_vocab=self._n_vocab,
            penalty_last_n=PENALTY_LAST_N,
            penalty_repeat=request.repeat_penalty,
            penalty_freq=0.0,
            penalty_present=0.0,
        )
        if request.grammar is not None:
            sampler.add_grammar(self.llm._model, request.grammar)
        if request.temperature == 0.0:
            sampler.add_greedy()
        else:
            sampler.add_top_k(TOP_K)
            sampler.add_typical(TYPICAL_P, 1)
            sampler.add_top_p(request.top_p, 1)
            sampler.add_min_p(MIN_P, 1)
            sampler.add_temp(request.temperature)
            sampler.add_dist(request.seed)
        return sampler

    def _copy_ready_prompts(self) -> None:
        """Slots waiting for a prompt another slot was evaluating copy its KV stream once it is done."""
        for slot in self._slots:
            source = slot.source
            if slot.request is None or source is None:
                continue
            if source.logits is not None and source.prompt == slot.prompt:
                # llama.cpp copies a whole stream across streams; what the source generated is then dropped
                self._lib.llama_memory_seq_cp(self._mem, source.seq_id, slot.seq_id, -1, -1)
                self._lib.llama_memory_seq_rm(self._mem, slot.seq_id, len(slot.prompt), -1)
                slot.logits, slot.source = source.logits, None
                self._first_token(slot)
            elif source.prompt != slot.prompt or (source.request is None and source.logits is None):
                slot.source = None  # the source failed or moved on: evaluate the prompt here

    def _decode_generating(self) -> None:
        """One decode step for every generating sequence, one token each; then each samples its next token."""
        slots = [s for s in self._slots if s.request is not None and s.next_token is not None]
        if not slots:
            return
        batch = self._batch
        for i, slot in enumerate(slots):
            self._put(i, slot.next_token, len(slot.prompt) + len(slot.out) - 1, slot.seq_id, True)
        batch.n_tokens = len(slots)
        self._decode(threads=1 if len(slots) == 1 else self.n_threads)
        for i, slot in enumerate(slots):
            slot.next_token = None
            self._accept(slot, slot.sampler.sample(self._ctx, i))

    def _prefill_one(self) -> None:
        """The next chunk of the oldest prompt still being evaluated, alone in its decode call."""
        waiting = [s for s in self._slots if s.request is not None and s.source is None and s.logits is None]
        if not waiting:
            return
        slot = min(waiting, key=lambda s: s.last_used)
        chunk = slot.prompt[slot.pending : slot.pending + self.n_batch]
        for j, token in enumerate(chunk):
            self._put(j, token, slot.pending + j, slot.seq_id, j == len(chunk) - 1)
        self._batch.n_tokens = len(chunk)
        self._decode()
        self.prompt_tokens_evaluated += len(chunk)
        slot.pending += len(chunk)
        if slot.pending == len(slot.prompt):
            logits = self._lib.llama_get_logits_ith(self._ctx.ctx, len(chunk) - 1)
            slot.logits = np.ctypeslib.as_array(logits, shape=(self._n_vocab,)).copy()
            self._first_token(slot)

    def _put(self, i: int, token: int, pos: int, seq_id: int, logits: bool) -> None:
        batch = self._batch
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
        batch.seq_id[i][0] = seq_id

    def _decode(self, threads: int | None = None) -> None:
        """One llama_decode on `threads` threads (default `n_threads`); the count changes no number."""
        threads = self.n_threads if threads is None else threads
        if threads != self._threads_now:
            self._lib.llama_set_n_threads(self._ctx.ctx, threads, threads)
            self._threads_now = threads
        rc = self._lib.llama_decode(self._ctx.ctx, self._batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed (code {rc}); the KV cache is full or the batch is invalid")

    def _first_token(self, slot: _Slot) -> None:
        """Sample from the saved prompt logits, as `llama_sampler_sample` samples from a context's logits."""
        view = self._token_view
        view["id"] = np.arange(self._n_vocab, dtype=np.int32)
        view["logit"] = slot.logits
        view["p"] = 0.0
        candidates = self._lib.llama_token_data_array(
            data=ctypes.cast(self._token_data, self._lib.llama_token_data_p),
            size=self._n_vocab,
            selected=-1,
            sorted=False,
        )
        sampler = slot.sampler.sampler
        self._lib.llama_sampler_apply(sampler, ctypes.byref(candidates))
        token = int(self._token_data[candidates.selected].id)
        self._lib.llama_sampler_accept(sampler, token)
        self._accept(slot, token)

    def _accept(self, slot: _Slot, token: int) -> None:
        request = slot.request
        if request.future.cancelled() or self._lib.llama_vocab_is_eog(self._vocab, token):
            return self._finish(slot, self._text(slot), "stop")
        slot.out.append(token)
        if request.stop:
            text = self._text(slot)
            hits = [text.index(s) for s in request.stop if s in text]
            if hits:
                return self._finish(slot, text[: min(hits)], "stop")
        if len(slot.out) >= request.max_tokens:
            return self._finish(slot, self._text(slot), "length")
        slot.next_token = token

    def _text(self, slot: _Slot) -> bytes:
        return self.llm.detokenize(slot.out, prev_tokens=slot.request.tokens)

    def _finish(self, slot: _Slot, text: bytes, reason: str) -> None:
        request = slot.request
        slot.request, slot.sampler, slot.next_token = None, None, None
        # the stream keeps the prompt (reused by an identical one); the reply's cells are dropped when reused
        if not request.future.cancelled():
            request.future.set_result(
                GenResult(text.decode("utf-8", errors="ignore"), len(request.tokens), len(slot.out), reason)
            )

    def _fail(self, slot: _Slot, exc: BaseException) -> None:
        request = slot.request
        slot.request, slot.sampler, slot.next_token, slot.source = None, None, None, None
        self._lib.llama_memory_seq_rm(self._mem, slot.seq_id, -1, -1)
        slot.prompt, slot.logits, slot.pending = [], None, 0
        if not request.future.done():
            request.future.set_exception(exc)
