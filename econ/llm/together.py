"""Together AI backend through the `together` SDK (AsyncTogether), SDK retries off."""

from __future__ import annotations

import httpx

from econ.errors import ConfigError
from econ.llm.base import Completion, JsonSchema, Message, Sampling, multiplicative_penalty
from econ.llm.faults import create_chat_completion, read_api_key
from econ.llm.structured import StructuredOutput


def normalise_together_base_url(base_url: str | None) -> str | None:
    """Strip a trailing `/v1`: the SDK appends `/v1/...` to every path itself."""
    if base_url is None:
        return None
    url = base_url.rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


class TogetherBackend:
    """Chat completions on Together AI. Repetition penalty: `multiplicative_penalty`.

    The key comes from `api_key_env` at construction (missing → ConfigError). An
    `http_client` can be injected (tests pass one with `httpx.MockTransport`).
    A `json_schema` goes out as Together's JSON mode (`response_format` of type json_schema) until
    the model refuses it (see `StructuredOutput`).
    """

    backend = "together"

    def __init__(
        self,
        model: str = "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        base_url: str | None = None,
        timeout_s: float = 120.0,
        api_key_env: str = "TOGETHER_API_KEY",
        max_repetition_penalty: float = 1.3,
        name: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        import together  # imported here so the package imports without the SDK

        if max_repetition_penalty < 1.0:
            raise ConfigError(
                f"model.max_repetition_penalty={max_repetition_penalty}: must be >= 1 (below 1 rewards repetition)"
            )
        self.model = model
        self.name = name or model
        self.api_key_env = api_key_env
        self.max_repetition_penalty = float(max_repetition_penalty)
        self.cache_salt = f"repetition_max={self.max_repetition_penalty}"
        self._key = read_api_key(api_key_env, "model=together")
        self._sdk = together
        self._client = together.AsyncTogether(
            api_key=self._key,
            base_url=normalise_together_base_url(base_url),
            timeout=float(timeout_s),
            max_retries=0,  # retries live in LLMClient only
            http_client=http_client,
        )
        self._structured = StructuredOutput("together")

    @property
    def json_schema_supported(self) -> bool:
        """False once the model has refused `response_format`: requests with a schema then go out plain."""
        return self._structured.supported

    @property
    def base_url(self) -> str:
        """Where requests go (the SDK's default when model.base_url is null); probed at start-up."""
        return str(self._client.base_url)

    async def complete(
        self, messages: list[Message], sampling: Sampling, json_schema: JsonSchema | None = None
    ) -> Completion:
        kwargs = dict(
            model=self.model,
            messages=list(messages),
            temperature=float(sampling.temperature),
            top_p=float(sampling.top_p),
            max_tokens=int(sampling.max_tokens),
            repetition_penalty=multiplicative_penalty(sampling.repetition_penalty, self.max_repetition_penalty),
        )
        if sampling.seed is not None:
            kwargs["seed"] = int(sampling.seed)
        return await self._structured.complete(self._send, kwargs, json_schema)

    async def _send(self, **kwargs) -> Completion:
        return await create_chat_completion(self._client, self._sdk, "together", self.api_key_env, self._key, **kwargs)

    async def aclose(self) -> None:
        await self._client.close()

    def __repr__(self) -> str:  # never show the key
        return f"TogetherBackend(model={self.model!r})"
