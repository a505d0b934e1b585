"""Lightning callbacks of the learner."""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L


class EpisodeCheckpoint(L.Callback):
    """Write last.ckpt atomically every `every` episodes, so a kill loses at most those episodes."""

    def __init__(self, path: Path, every: int = 1):
        self.path = Path(path)
        self.every = every

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if pl_module.episodes_done % self.every == 0:
            self.save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        self.save(trainer)

    def save(self, trainer: L.Trainer) -> None:
        partial = self.path.with_suffix(".ckpt.partial")
        trainer.save_checkpoint(partial)
        os.replace(partial, self.path)
