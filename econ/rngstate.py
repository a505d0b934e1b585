"""torch's global RNG in every training checkpoint, so a resumed run draws what an uninterrupted one would."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

CHECKPOINT_KEY = "torch_global_rng"


class GlobalRNGCheckpoint(L.Callback):
    """Save torch's global RNG with each checkpoint; on resume, restore it before the first episode played.

    Dropout during learner updates draws from the global RNG, which the checkpoint's own
    generators do not cover: without this, a resumed run's later updates draw other masks
    and it ends with other networks than an uninterrupted run. The state is restored at the
    first batch, after Lightning has built its data iterator (which draws a seed itself), so
    the next draw is the one the uninterrupted run made at that point.
    """

    def __init__(self, checkpoint: dict[str, Any] | None = None):
        self._pending = (checkpoint or {}).get(CHECKPOINT_KEY)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = torch.get_rng_state()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._pending is not None:
            torch.set_rng_state(self._pending)
            self._pending = None
