"""LLMClient: cache, bounded concurrency, retries and accounting around any `LLMBackend`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter

from tenacity import RetryCallState

from econ.errors import ConfigError, EconError, LLMError
from econ.llm.base import Completion, JsonSchema, LLMBackend, Message, Sampling
from econ.llm.cache import ResponseCache, SampledCall, cache_key
from econ.llm.faults import Fault
from econ.llm.retry import retrying as retrying_faults
from econ.llm.usage import UsageTracker

log = logging.getLogger(__name__)


class LLMClient:
    """The one way the rest of econ talks to an LLM.

    `complete` = cache lookup → (at most `max_concurrency` backend calls in flight)
    → up to `max_retries` retries of retryable faults → cache store → usage record.

    Retry wait after attempt n: min(retry_max_wait_s, initial·2^(n−1) + U(0, initial)),
    raised to the server's Retry-After when it sent one (still capped by
    retry_max_wait_s). An empty completion is retried at once with seed + k, so a
    seeded, deterministic backend does not return the same empty text again.

    Cache hits cost nothing: they count as `cache_hits`, their tokens under
    `cached_*_tokens`, not as spent tokens (see `UsageTotals`). The cache key also
    includes the backend's optional `cache_salt` (settings that change outputs, such
    as the penalty scale or the server URL). With `cache_tolerance` > 0, a miss is served
    the carried reply (brought in by `ResponseCache.load`) to the same call whose temperature
    and penalty are each within the tolerance (`ResponseCache.get_near`): for replaying a run
    whose actions moved by float noise; 0 (the default) reuses exact calls only.

    Use one event loop for the client's lifetime: the SDKs' HTTP pools belong to it.
    """

    def __init__(
        self,
        backend: LLMBackend,
        cache: ResponseCache | None = None,
        max_concurrency: int = 4,
        max_retries: int = 6,
        retry_max_wait_s: float = 30.0,
        usage: UsageTracker | None = None,
        retry_initial_wait_s: float = 1.0,
        model_label: str | None = None,
        cache_tolerance: float = 0.0,
    ) -> None:
        if not 0 <= cache_tolerance < 1:
            raise ConfigError(f"llm.cache_tolerance={cache_tolerance}: must be in [0, 1) (0 = exact calls only)")
        if max_concurrency < 1:
            raise ConfigError(f"llm.max_concurrency={max_concurrency}: must be >= 1")
        if max_retries < 0:
            raise ConfigError(f"llm.max_retries={max_retries}: must be >= 0 (0 = no retries)")
        if retry_initial_wait_s < 0 or retry_max_wait_s < 0:
            raise ConfigError("llm.retry_initial_wait_s and llm.retry_max_wait_s must be >= 0")
        self.backend = backend
        self.cache = cache
        self.cache_tolerance = float(cache_tolerance)
        # an in-process backend that decodes several calls together says how many it takes at once
        # (`max_in_flight`); a cap below that would only queue them, so it is raised to it
        self.max_concurrency = max(int(max_concurrency), int(getattr(backend, "max_in_flight", 0) or 0))
        self.max_retries = int(max_retries)
        self.retry_max_wait_s = float(retry_max_wait_s)
        self.retry_initial_wait_s = float(retry_initial_wait_s)
        self.usage = usage if usage is not None else UsageTracker()
        # the name this client's calls are counted under in usage.by_model (and priced by)
        self.model_label = model_label or self.label
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    @property
    def label(self) -> str:
        return f"{self.backend.backend}/{self.backend.model}"

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores = {lp: s for lp, s in self._semaphores.items() if not lp.is_closed()}
            self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return self._semaphores[loop]

    async def complete(
        self,
        messages: list[Message],
        sampling: Sampling,
        *,
        role: str,
        problem_id: str,
        sample_index: int = 0,
        json_schema: JsonSchema | None = None,
    ) -> Completion:
        """One completion for `messages`; raises LLMError when the call fails for good.

        `json_schema` asks the backend for structured output (see `LLMBackend`); it is part of the cache key.
        Once the backend reports `json_schema_supported = False` (its server refused the schema and it fell
        back to the plain request), the reply is the plain request's: it is cached under the plain key.
        """
        problem_id = str(problem_id)
        messages = [dict(m) for m in messages]
        if json_schema is not None and not self._schemas_accepted():
            json_schema = None  # the backend sends plain requests now: look up and store the plain request
        key = None
        if self.cache is not None:
            key, call = self._cache_keys(messages, sampling, sample_index, json_schema)
            start = time.perf_counter()
            hit = await asyncio.to_thread(self.cache.get, key)
            if hit is None and self.cache_tolerance > 0:
                hit = await asyncio.to_thread(self.cache.get_near, call, self.cache_tolerance)
            if hit is not None:
                self.usage.record_cache_hit(
                    role, problem_id, hit.prompt_tokens, hit.completion_tokens, self.model_label
                )
                return dataclasses.replace(hit, latency_s=time.perf_counter() - start)
        async with self._semaphore():
            completion = await self._call_with_retries(messages, sampling, role, problem_id, json_schema)
        if key is not None and json_schema is not None and not self._schemas_accepted():
            key, call = self._cache_keys(messages, sampling, sample_index, None)  # refused the schema: a plain reply
        if key is not None:
            await asyncio.to_thread(self.cache.put, key, completion, call)
        self.usage.record_call(
            role,
            problem_id,
            completion.prompt_tokens,
            completion.completion_tokens,
            completion.latency_s,
            self.model_label,
        )
        return completion

    def _cache_keys(
        self, messages: list[Message], sampling: Sampling, sample_index: int, json_schema: JsonSchema | None
    ) -> tuple[str, SampledCall]:
        """The call's exact cache key, and the call apart from its sampling action (for cache_tolerance)."""
        salt = getattr(self.backend, "cache_salt", "")

        def key_of(at: Sampling) -> str:
            return cache_key(self.backend.backend, self.backend.model, messages, at, sample_index, salt, json_schema)

        return key_of(sampling), SampledCall.of(sampling, key_of)

    def _schemas_accepted(self) -> bool:
        """False once the backend's server has refused structured output (backends without the flag never do)."""
        return getattr(self.backend, "json_schema_supported", True)

    async def _call_with_retries(
        self,
        messages: list[Message],
        sampling: Sampling,
        role: str,
        problem_id: str,
        json_schema: JsonSchema | None = None,
    ) -> Completion:
        faults: Counter = Counter()
        attempts = 0
        retrying = retrying_faults(
            self.max_retries,
            self.retry_initial_wait_s,
            self.retry_max_wait_s,
            asynchronous=True,
            before_sleep=lambda state: self._log_retry(state, problem_id, role),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    this_sampling = sampling
                    if faults["empty"] and sampling.seed is not None:
                        this_sampling = dataclasses.replace(sampling, seed=sampling.seed + faults["empty"])
                    try:
                        if json_schema is None:  # every backend takes plain requests unchanged
                            completion = await self.backend.complete(messages, this_sampling)
                        else:
                            completion = await self.backend.complete(messages, this_sampling, json_schema=json_schema)
                    except Fault as fault:
                        faults[fault.kind] += 1
                        self.usage.record_fault(
                            role, problem_id, fault.kind, attempts <= self.max_retries, self.model_label
                        )
                        raise
        except Fault as fault:
            self.usage.record_failure(role, problem_id, self.model_label)
            raise LLMError(
                f"problem {problem_id} ({role}): {self.label} failed {attempts} attempts, last fault: {fault} "
                f"— raise llm.max_retries or check the backend"
            ) from None
        except EconError:
            self.usage.record_failure(role, problem_id, self.model_label)
            raise
        return dataclasses.replace(completion, attempts=attempts, faults=dict(faults), cached=False)

    def _log_retry(self, state: RetryCallState, problem_id: str, role: str) -> None:
        fault = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "problem %s (%s): %s; retry %d/%d in %.2fs",
            problem_id,
            role,
            fault,
            state.attempt_number,
            self.max_retries,
            sleep,
        )

    async def aclose(self) -> None:
        await self.backend.aclose()
        if self.cache is not None:
            self.cache.close()


# Keys of a model config that describe the model to econ (its price), not arguments of its backend.
PRICE_KEYS = ("price_per_mtok_in", "price_per_mtok_out")


def build_backend(model_cfg, llm_cfg, key: str = "model") -> LLMBackend:
    """The backend of a model config (`_target_` + its arguments; price keys are econ's, not the backend's).

    `llm.timeout_s` is handed to the backend unless the model config sets its own. Constructor errors
    (missing key, missing GGUF) surface as their one-line EconError, naming `key` (the config key of the
    role that uses this model: model, coordinator, team.executors[i]).
    """
    from omegaconf import DictConfig, OmegaConf

    model_cfg = model_cfg if isinstance(model_cfg, DictConfig) else OmegaConf.create(model_cfg)
    llm_cfg = llm_cfg if isinstance(llm_cfg, DictConfig) else OmegaConf.create(llm_cfg)
    for name in model_cfg:
        if OmegaConf.is_missing(model_cfg, name):
            raise ConfigError(f"{key}.{name} is unset: pass {key}.{name}=<value> on the command line")
    resolved = OmegaConf.to_container(model_cfg, resolve=True)
    for name, value in resolved.items():
        if value == "???":
            raise ConfigError(f"{key}.{name} is unset: pass {key}.{name}=<value> on the command line")
    backend_cfg = OmegaConf.create({name: value for name, value in resolved.items() if name not in PRICE_KEYS})
    overrides = {}
    if backend_cfg.get("timeout_s") is None and llm_cfg.get("timeout_s") is not None:
        overrides["timeout_s"] = float(llm_cfg.timeout_s)
    try:
        return instantiate_config(backend_cfg, **overrides)
    except ConfigError as error:
        if key == "model":
            raise
        raise ConfigError(rename_key(str(error), key)) from None


def rename_key(message: str, key: str) -> str:
    """A backend's error names `model.<x>` / `model=<backend>`; for another role, name that role's key."""
    import re

    return re.sub(r"\bmodel(?=[.=])", key, message)


def build_llm_client(
    model_cfg,
    llm_cfg,
    usage: UsageTracker | None = None,
    *,
    key: str = "model",
    cache: ResponseCache | None = None,
    model_label: str | None = None,
) -> LLMClient:
    """An LLMClient from a model config (the `model` group, or any role's) and the `llm` group.

    `cache`: a response cache to share (clients of one team share one); by default the client opens
    `llm.cache_path` itself when `llm.cache` is on.
    """
    from omegaconf import DictConfig, OmegaConf

    llm_cfg = llm_cfg if isinstance(llm_cfg, DictConfig) else OmegaConf.create(llm_cfg)
    backend = build_backend(model_cfg, llm_cfg, key)
    if cache is None and llm_cfg.get("cache", False):
        cache = ResponseCache(llm_cfg.cache_path)
    return LLMClient(
        backend,
        cache=cache,
        max_concurrency=int(llm_cfg.get("max_concurrency", 4)),
        max_retries=int(llm_cfg.get("max_retries", 6)),
        retry_max_wait_s=float(llm_cfg.get("retry_max_wait_s", 30.0)),
        retry_initial_wait_s=float(llm_cfg.get("retry_initial_wait_s", 1.0)),
        usage=usage,
        model_label=model_label,
        cache_tolerance=float(llm_cfg.get("cache_tolerance", 0.0)),
    )


def instantiate_config(cfg, **overrides):
    """`hydra.utils.instantiate`, but an EconError raised by a constructor surfaces as itself (one line).

    Hydra wraps constructor errors (at every nesting level) in InstantiationException.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(cfg, **overrides)
    except InstantiationException as exc:
        cause = exc.__cause__
        while isinstance(cause, InstantiationException):
            cause = cause.__cause__
        if isinstance(cause, EconError):
            raise cause from None
        raise
