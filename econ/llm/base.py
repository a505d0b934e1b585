"""The one protocol every LLM backend implements, and the records that cross it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}
JsonSchema = dict  # a JSON Schema the reply must follow (structured output), e.g. {"type": "object", ...}


@dataclass(frozen=True)
class Sampling:
    """How to sample one completion.

    `repetition_penalty` is econ's backend-neutral penalty strength p in [0, 1]
    (0 = no penalty). Each backend maps it onto its own parameter so that it can
    only discourage repetition, never reward it (see each backend's docstring).
    """

    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 0.0
    max_tokens: int = 256
    seed: int | None = None


def multiplicative_penalty(p: float, maximum: float = 1.3) -> float:
    """A multiplicative repeat penalty (llama.cpp's `repeat_penalty`, Together's `repetition_penalty`) for
    econ's p in [0, 1]: 1 + p·(maximum − 1), so 1 (off) at p = 0 and never below 1.

    Both divide the logits of recently seen tokens by it: below 1 it would reward repetition (the
    official ECON code sent such values); the clamping rules that out.
    """
    p = min(max(float(p), 0.0), 1.0)
    return 1.0 + p * max(float(maximum) - 1.0, 0.0)


@dataclass
class Completion:
    """One generated answer with what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool = False
    attempts: int = 1
    faults: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class LLMBackend(Protocol):
    """A chat model reachable by one async call. Backends never retry, cache or count.

    `json_schema`, when given, asks for a reply that is a JSON document following that schema,
    by whatever structured-output mechanism the backend has (grammar, JSON mode, json_schema).
    """

    backend: str  # "local" | "together" | "openai_compatible"
    model: str

    async def complete(
        self, messages: list[Message], sampling: Sampling, json_schema: JsonSchema | None = None
    ) -> Completion: ...

    async def aclose(self) -> None: ...
