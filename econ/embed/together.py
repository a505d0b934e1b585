"""BAAI/bge-large-en-v1.5 (1024-d) embeddings from the Together API, key from the environment."""

from __future__ import annotations

import httpx
import torch

from econ.errors import ConfigError, LLMError
from econ.llm.faults import Fault, read_api_key, sdk_fault
from econ.llm.retry import retrying as retrying_faults
from econ.llm.together import normalise_together_base_url


class TogetherEmbedder:
    """Together embeddings API (sync SDK client, SDK retries off, our own small retry budget).

    There is no LLMClient around embedders, so this one retries 429/5xx/timeouts itself, with the
    LLM layer's retry policy (`econ.llm.retry`: `max_retries`, backoff with jitter, Retry-After honoured).
    """

    max_parallel_encodes = 8  # network-bound: concurrent problems' requests overlap (econ.embed.offload)

    def __init__(
        self,
        model: str = "BAAI/bge-large-en-v1.5",
        dim: int = 1024,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        api_key_env: str = "TOGETHER_API_KEY",
        batch_size: int = 64,
        max_retries: int = 4,
        retry_max_wait_s: float = 30.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        import together

        if dim < 1:
            raise ConfigError(f"embedder.dim={dim}: must be the model's embedding size (1024 for bge-large)")
        self.name = model
        self.dim = int(dim)
        self.batch_size = int(batch_size)
        self.max_retries = int(max_retries)
        self.retry_max_wait_s = float(retry_max_wait_s)
        self.api_key_env = api_key_env
        self._key = read_api_key(api_key_env, "embedder=together")
        self._sdk = together
        self._client = together.Together(
            api_key=self._key,
            base_url=normalise_together_base_url(base_url),
            timeout=float(timeout_s),
            max_retries=0,
            http_client=http_client,
        )

    def encode(self, texts: list[str]) -> torch.Tensor:
        chunks = [self._encode_batch(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        if not chunks:
            return torch.zeros(0, self.dim)
        return torch.nn.functional.normalize(torch.cat(chunks), dim=-1)  # (n, dim)

    def _encode_batch(self, texts: list[str]) -> torch.Tensor:
        retrying = retrying_faults(self.max_retries, 1.0, self.retry_max_wait_s)
        try:
            return retrying(self._request, texts)
        except Fault as fault:
            raise LLMError(
                f"embedder=together: gave up after {self.max_retries + 1} attempts, last fault: {fault}"
            ) from None

    def _request(self, texts: list[str]) -> torch.Tensor:
        try:
            response = self._client.embeddings.create(model=self.name, input=list(texts))
        except Exception as exc:
            fault = sdk_fault(exc, self._sdk, "together embeddings", self.api_key_env, self._key)
            if fault is None:
                raise
            raise fault from None
        try:
            rows = sorted(response.data, key=lambda d: d.index)
            vectors = torch.tensor([row.embedding for row in rows], dtype=torch.float32)
        except (AttributeError, TypeError, ValueError):
            raise Fault("malformed", "together embeddings: response has no data[].embedding") from None
        if vectors.shape != (len(texts), self.dim):
            raise LLMError(
                f"embedder=together: {self.name} returned shape {tuple(vectors.shape)}, expected "
                f"({len(texts)}, {self.dim}); set embedder.dim to the model's size"
            )
        return vectors

    def __repr__(self) -> str:
        return f"TogetherEmbedder(model={self.name!r})"
