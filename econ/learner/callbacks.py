"""Lightning callbacks of the learner: atomic checkpoints, a progress bar, torch's global RNG in checkpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

RNG_CHECKPOINT_KEY = "torch_global_rng"


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
        trainer.save_checkpoint(partial, weights_only=False)
        os.replace(partial, self.path)


class TrainingProgress(L.Callback):
    """A progress bar over training episodes with running accuracy and tokens."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task = None
        self.correct = 0
        self.tokens = 0

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        self.progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("acc {task.fields[acc]}  tokens {task.fields[tokens]}  updates {task.fields[updates]}"),
            TimeElapsedColumn(),
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train",
            total=pl_module.n_episodes,
            completed=pl_module.episodes_done,
            acc="-",
            tokens=0,
            updates=pl_module.updates_done,
        )

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        result = pl_module.last_result
        self.correct += result.correct
        self.tokens += result.prompt_tokens + result.completion_tokens
        played = batch_idx + 1
        self.progress.update(
            self.task,
            completed=pl_module.episodes_done,
            acc=f"{self.correct / played:.1%}",
            tokens=self.tokens,
            updates=pl_module.updates_done,
        )

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if self.progress is not None:
            self.progress.stop()


class GlobalRNGCheckpoint(L.Callback):
    """Save torch's global RNG with each checkpoint; on resume, restore it before the first episode played.

    Dropout during learner updates draws from the global RNG, which the checkpoint's own
    generators do not cover: without this, a resumed run's later updates draw other masks
    and it ends with other networks than an uninterrupted run. The state is restored at the
    first batch, after Lightning has built its data iterator (which draws a seed itself), so
    the next draw is the one the uninterrupted run made at that point.
    """

    def __init__(self, checkpoint: dict[str, Any] | None = None):
        self._pending = (checkpoint or {}).get(RNG_CHECKPOINT_KEY)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[RNG_CHECKPOINT_KEY] = torch.get_rng_state()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._pending is not None:
            torch.set_rng_state(self._pending)
            self._pending = None
