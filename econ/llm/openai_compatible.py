"""Any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp server, LM Studio, OpenAI) via `openai.AsyncOpenAI`."""

from __future__ import annotations

from econ.errors import ConfigError
from econ.llm.base import Completion, JsonSchema, Message, Sampling
from econ.llm.faults import create_chat_completion, read_api_key
from econ.llm.structured import StructuredOutput

NO_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one


def openai_frequency_penalty(p: float, max_frequency_penalty: float = 0.5) -> float:
    """OpenAI `frequency_penalty` for econ's p in [0, 1]: p·max, never negative.

    `frequency_penalty` is additive (subtracted from a token's logit once per prior
    occurrence): 0 is neutral, negative values reward repetition. Unlike a
    multiplicative `repetition_penalty`, every OpenAI-compatible server accepts it.
    """
    p = min(max(float(p), 0.0), 1.0)
    return p * max(float(max_frequency_penalty), 0.0)


class OpenAICompatibleBackend:
    """Chat completions on an OpenAI-compatible server. Repetition penalty: see `openai_frequency_penalty`.

    The key is optional: when `api_key_env` is unset a placeholder is sent, which
    local servers ignore (a hosted API will then answer 401, reported as such).
    A `json_schema` goes out as `response_format` until the server refuses it (see `StructuredOutput`).
    """

    backend = "openai_compatible"

    def __init__(
        self,
        model: str,
        base_url: str = "http://127.0.0.1:8000/v1",
        timeout_s: float = 120.0,
        api_key_env: str = "OPENAI_API_KEY",
        max_frequency_penalty: float = 0.5,
        name: str | None = None,
    ) -> None:
        import openai

        if not model:
            raise ConfigError("model.model is empty: set it to the model name the server at model.base_url serves")
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"model.base_url={base_url}: must be an http(s) URL such as http://127.0.0.1:8000/v1")
        if max_frequency_penalty < 0:
            raise ConfigError(
                f"model.max_frequency_penalty={max_frequency_penalty}: must be >= 0 (negative rewards repetition)"
            )
        self.model = model
        self.name = name or model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.max_frequency_penalty = float(max_frequency_penalty)
        # The same model name on two servers may be two different models.
        self.cache_salt = f"{self.base_url}|frequency_max={self.max_frequency_penalty}"
        self._key = read_api_key(api_key_env, "model=openai_compatible", required=False)
        self._sdk = openai
        self._client = openai.AsyncOpenAI(
            api_key=self._key or NO_KEY,
            base_url=self.base_url,
            timeout=float(timeout_s),
            max_retries=0,  # retries live in LLMClient only
        )
        self._structured = StructuredOutput("openai_compatible")

    @property
    def json_schema_supported(self) -> bool:
        """False once the server has refused `response_format`: requests with a schema then go out plain."""
        return self._structured.supported

    async def complete(
        self, messages: list[Message], sampling: Sampling, json_schema: JsonSchema | None = None
    ) -> Completion:
        kwargs = dict(
            model=self.model,
            messages=list(messages),
            temperature=float(sampling.temperature),
            top_p=float(sampling.top_p),
            max_tokens=int(sampling.max_tokens),
        )
        penalty = openai_frequency_penalty(sampling.repetition_penalty, self.max_frequency_penalty)
        if penalty > 0:  # omitted when off: the request then matches the server's defaults
            kwargs["frequency_penalty"] = penalty
        if sampling.seed is not None:
            kwargs["seed"] = int(sampling.seed)
        return await self._structured.complete(self._send, kwargs, json_schema)

    async def _send(self, **kwargs) -> Completion:
        return await create_chat_completion(
            self._client, self._sdk, "openai_compatible", self.api_key_env, self._key, **kwargs
        )

    async def aclose(self) -> None:
        await self._client.close()

    def __repr__(self) -> str:
        return f"OpenAICompatibleBackend(model={self.model!r}, base_url={self.base_url!r})"
