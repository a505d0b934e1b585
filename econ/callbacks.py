"""Lightning callbacks of the learner."""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


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
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
            TextColumn("acc {task.fields[acc]}  tokens {task.fields[tokens]}  updates {task.fields[updates]}"),
            TimeElapsedColumn(),
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=pl_module.n_episodes, completed=pl_module.episodes_done,
                                           acc="-", tokens=0, updates=pl_module.updates_done)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        result = pl_module.last_result
        self.correct += result.correct
        self.tokens += result.prompt_tokens + result.completion_tokens
        played = batch_idx + 1
        self.progress.update(self.task, completed=pl_module.episodes_done, acc=f"{self.correct / played:.1%}",
                             tokens=self.tokens, updates=pl_module.updates_done)

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if self.progress is not None:
            self.progress.stop()
