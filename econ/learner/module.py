"""The ECON learner as a LightningModule: one training step plays one episode.

Manual optimisation, TD3-style: an episode's transitions (one per BNE round) go into a replay
buffer of the last `buffer_size` episodes; every `update_interval` episodes the learner takes
`updates_per_step` gradient steps, each on a fresh batch: the critic side (belief body + Q head,
encoder, mixer) and the reward weights α every step, the policy head every `policy_delay`-th
step (so μ follows a critic that has caught up), the target networks after each step.
A checkpoint holds the networks, optimisers, α, the buffer, the data cursor and the RNG
state, so a killed run resumes exactly.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset

from econ.config.settings import Settings
from econ.data.datasets import Problem
from econ.game.episode import EpisodeRunner
from econ.game.policy import BeliefPolicy
from econ.game.records import EpisodeResult
from econ.learner.checkpoint import CHECKPOINT_FORMAT
from econ.learner.probe import belief_state, probe, update_metrics, update_moves
from econ.nn import Lambdas, Networks, RewardWeights, Transition, collate, econ_losses
from econ.run.jsonl import JsonlLog

log = logging.getLogger(__name__)

GROUPS = ("belief", "policy", "encoder", "mixer")


class EpisodeCursor(IterableDataset):
    """Yields the indices of the train problems still to play, from the module's cursor on."""

    def __init__(self, module: ECONModule):
        self.module = module

    def __iter__(self):
        return iter(range(self.module.episodes_done, self.module.n_episodes))


class ECONModule(L.LightningModule):
    """Belief networks, encoder, mixer, their targets, α and the replay buffer."""

    def __init__(self, settings: Settings, obs_dim: int):
        super().__init__()
        self.save_hyperparameters({"econ": settings.hparams, "obs_dim": obs_dim})
        self.settings = settings
        self.nets = Networks.build(settings.networks, obs_dim)
        self.target = self.nets.make_target()
        reward = settings.reward
        self.reward_weights = RewardWeights(reward.alpha_init, reward.reg)
        self.lambdas = Lambdas(reward.lambda_sd, reward.lambda_m, reward.lambda_e)
        self.learner = settings.learner
        self.automatic_optimization = False
        self.buffer: deque[list[Transition]] = deque(maxlen=self.learner.buffer_size)  # one list per episode
        self.episodes_done = 0
        self.updates_done = 0
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.sampler = random.Random(settings.seed)
        # set by attach() before fit; not part of the checkpoint
        self.problems: Sequence[Problem] = ()
        self.n_episodes = 0
        self.runner: EpisodeRunner | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.traces: JsonlLog | None = None
        self.last_result: EpisodeResult | None = None
        self._pending_optimizer_states: list[dict] = []

    def attach(
        self,
        problems: Sequence[Problem],
        runner: EpisodeRunner,
        loop: asyncio.AbstractEventLoop,
        traces: JsonlLog,
        max_episodes: int | None,
    ) -> None:
        """Give the module what it plays with: train problems, the game, the event loop, the trace log."""
        self.problems, self.runner, self.loop, self.traces = problems, runner, loop, traces
        self.n_episodes = len(problems) if max_episodes is None else min(max_episodes, len(problems))

    def configure_optimizers(self):
        groups = self.nets.parameter_groups()
        learner = self.learner
        rates = {
            "belief": learner.lr,
            "policy": learner.lr_policy,
            "encoder": learner.lr_coordinator,
            "mixer": learner.lr_coordinator,
        }
        optimisers = [torch.optim.Adam(groups[name], lr=rates[name]) for name in GROUPS]
        optimisers.append(torch.optim.Adam(self.reward_weights.parameters(), lr=self.settings.reward.lr))
        return optimisers

    def train_dataloader(self) -> DataLoader:
        return DataLoader(EpisodeCursor(self), batch_size=None)

    def training_step(self, index: int, batch_idx: int) -> None:
        problem = self.problems[int(index)]
        self.nets.eval()  # acting: no dropout; exploration comes from the action noise
        policy = BeliefPolicy(self.nets.belief, self.learner.exploration_sigma, self.generator)
        result, transitions = self.loop.run_until_complete(
            self.runner.play(problem, "train", self.settings.k_train, policy)
        )
        self.buffer.append(transitions)
        self.last_result = result
        self.episodes_done += 1
        self.traces.append({"kind": "train", "episode": self.episodes_done, **result.to_json()})
        metrics = {
            "train/correct": float(result.correct),
            "train/tokens": float(result.prompt_tokens + result.completion_tokens),
            "train/rounds": float(result.rounds_used),
            "train/episodes": float(self.episodes_done),
        }
        for name, value in zip(("al", "ts", "cc"), torch.tensor(result.reward_terms).mean(0).tolist()):
            metrics[f"train/reward_{name}"] = value
        for name, value in zip(("al", "ts", "cc"), self.reward_weights.alpha.tolist()):
            metrics[f"alpha/{name}"] = value
        if self.episodes_done % self.learner.update_interval == 0:
            metrics.update(self.update())
        # logged per episode directly: with manual optimisation global_step counts optimiser steps
        for logger in self.loggers:
            logger.log_metrics(metrics, step=self.episodes_done)

    def update(self) -> dict[str, float]:
        """`updates_per_step` gradient steps, each on a batch of transitions sampled from the buffer.

        Every step moves the critic side and α; the policy head moves on every `policy_delay`-th
        gradient step of the run, counted across updates (so a delay above updates_per_step still
        steps the policy), and its gradient is zeroed on the others. Reports the losses of the last step
        and the `probe/*` metrics (econ/learner/probe.py): what the critic said of the policy on the
        buffer before the steps, and how far the policy head's and the belief body's steps moved it.
        """
        transitions = [t for episode in self.buffer for t in episode]
        buffered = collate(transitions)
        view = probe(self.nets, buffered, self.lambdas.sd)  # the critic the steps below follow, before them
        before = belief_state(self.nets.belief)
        self.nets.train()
        size = min(self.learner.batch_size, len(transitions))
        optimisers = self.optimizers()
        policy_optimiser = optimisers[GROUPS.index("policy")]
        per_update = self.learner.updates_per_step
        for step in range(self.updates_done * per_update + 1, (self.updates_done + 1) * per_update + 1):
            batch = collate(self.sampler.sample(transitions, size))
            losses = econ_losses(
                self.nets, self.target, batch, self.reward_weights.alpha, self.learner.gamma, self.lambdas
            )
            dynamic_reward_loss = self.reward_weights.dynamic_reward_loss(batch.reward_terms, batch.team_correct)
            for optimiser in optimisers:
                optimiser.zero_grad()
            self.manual_backward(losses["loss"] + dynamic_reward_loss)
            for optimiser in optimisers:
                if optimiser is not policy_optimiser or step % self.learner.policy_delay == 0:
                    optimiser.step()
            self.nets.soft_update(self.target, self.learner.tau)
        self.nets.eval()
        self.updates_done += 1
        report = {f"loss/{name}": float(value.detach()) for name, value in losses.items() if value.dim() == 0}
        report["loss/dynamic_reward_loss"] = float(dynamic_reward_loss.detach())
        report["train/updates"] = float(self.updates_done)
        report.update(update_metrics(view, update_moves(self.nets.belief, before, buffered)))
        return report

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Networks, α, buffer, cursor and RNGs from a checkpoint; optimiser states once fit starts.

        Lightning's own resume restores its loop counters too and then sees the (one) epoch
        as finished; here the episode cursor alone decides what is left to play. `load_checkpoint`
        has already checked that the checkpoint fits these settings, `check_obs_dim` this embedder.
        """
        self.load_state_dict(checkpoint["state_dict"])
        self.on_load_checkpoint(checkpoint)
        self._pending_optimizer_states = checkpoint.get("optimizer_states", [])

    def on_fit_start(self) -> None:
        for optimiser, state in zip(self.optimizers(), self._pending_optimizer_states, strict=False):
            optimiser.optimizer.load_state_dict(state)
        self._pending_optimizer_states = []

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["econ_state"] = {
            "format": CHECKPOINT_FORMAT,
            "buffer": [[t.to_dict() for t in episode] for episode in self.buffer],
            "episodes_done": self.episodes_done,
            "updates_done": self.updates_done,
            "generator": self.generator.get_state(),
            "sampler": self.sampler.getstate(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["econ_state"]
        self.buffer.clear()
        self.buffer.extend([Transition.from_dict(t) for t in episode] for episode in state["buffer"])
        self.episodes_done = state["episodes_done"]
        self.updates_done = state["updates_done"]
        self.generator.set_state(state["generator"])
        self.sampler.setstate(state["sampler"])
