"""A synthetic ECON game for checking that the learner learns: executors whose correctness falls with T.

The real EpisodeRunner, LLMClient, ECONModule and Lightning loop play it at whatever sizes and
learner settings the config gives (the defaults, unless overridden); only the LLM and the
embedder are replaced. An executor sampled at temperature T answers the gold answer with
probability p_max − slope·u_T, u_T = (T − T_min)/(T_max − T_min) its normalised temperature,
otherwise a wrong number; the coordinator writes no JSON, so the commitment is the executors'
majority. With the default slope the best policy plays u_T = 0 in every round; a negative slope
(correctness rising with T) is the control: the same learner must then raise T.

`spread` gives the problems difficulties of their own, as real ones have: problem j's p_max is
lowered by spread·h_j, h_j ∈ [0, 1) from a hash of its text, so most of the reward's variance is
which problem was drawn and only the rest is the action's. With spread 0 every problem is alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch

from econ.data.datasets import Problem
from econ.devtools.runs import compose_config
from econ.game import prompts
from econ.game.episode import EpisodeRunner, GameSettings
from econ.llm.base import Completion, JsonSchema, Message, Sampling
from econ.llm.client import LLMClient
from econ.nn.observation import Observation

GOLD = "7"
STRATEGY = "Work out each quantity, then combine them."


class HashEmbedder:
    """Deterministic random unit vectors from a text's hash, of MiniLM's size by default."""

    name = "hash"

    def __init__(self, dim: int = 384):
        self.dim = dim

    def encode(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)
            rows.append(torch.randn(self.dim, generator=torch.Generator().manual_seed(seed)))
        return torch.nn.functional.normalize(torch.stack(rows), dim=-1) if rows else torch.zeros(0, self.dim)


class TemperatureBandit:
    """An LLM backend for the synthetic game: P(executor right) = p_max − spread·h_j − slope·u_T (clamped to
    [0, 1]), h_j the problem's hashed difficulty, seeded by the call's seed."""

    backend = "synthetic"
    model = "temperature-bandit"

    def __init__(self, t_bounds: tuple[float, float], p_max: float = 0.9, slope: float = 0.6, spread: float = 0.0):
        self.t_low, self.t_high = t_bounds
        self.p_max, self.slope, self.spread = p_max, slope, spread

    def p_correct(self, temperature: float, difficulty: float = 0.0) -> float:
        u_t = (temperature - self.t_low) / (self.t_high - self.t_low)
        return min(1.0, max(0.0, self.p_max - self.spread * difficulty - self.slope * u_t))

    async def complete(
        self, messages: list[Message], sampling: Sampling, json_schema: JsonSchema | None = None
    ) -> Completion:
        if messages[0]["content"] == prompts.EXECUTOR_SYSTEM:
            rng = random.Random(sampling.seed)
            p_right = self.p_correct(sampling.temperature, difficulty(messages[-1]["content"]))
            answer = GOLD if rng.random() < p_right else str(rng.randint(10, 99))
            text = f"Working it out step by step. \\boxed{{{answer}}}"
        elif "strategy" in messages[-1]["content"].lower():
            text = STRATEGY
        else:
            text = "The solvers' majority stands."  # no JSON: the commitment falls back to the majority
        return Completion(text, prompt_tokens=1, completion_tokens=1, latency_s=0.0)

    async def aclose(self) -> None:
        """Nothing to release."""


def difficulty(prompt: str) -> float:
    """h ∈ [0, 1) from a hash of the problem block of an executor's prompt (the same in every round)."""
    problem = prompt.split("</problem>", 1)[0]
    return int(hashlib.sha256(problem.encode()).hexdigest()[:8], 16) / 16**8


class _NoTraces:
    def append(self, record: dict) -> None:
        """Traces are not needed to judge the learner."""


@dataclass(frozen=True)
class BanditOutcome:
    """Mean normalised temperature of the policy before and after training, and of the played actions."""

    probe_before: float  # mean μ_T at round 0 over held-out problems, at init
    probe_after: float  # the same after training
    played_first: list[float]  # mean played u_T per BNE round over the first `window` episodes
    played_last: list[float]  # ... and over the last `window` episodes
    module: Any  # the trained ECONModule

    def moved(self, direction: int, margin: float = 0.1) -> bool:
        """Did training move μ_T by more than `margin` in `direction` (−1: down), and the played u_T in every round?"""
        probe = direction * (self.probe_after - self.probe_before) > margin
        return probe and all(direction * (last - first) > 0 for first, last in zip(self.played_first, self.played_last))


def train_bandit(
    seed: int,
    episodes: int = 700,
    overrides: tuple[str, ...] = (),
    window: int = 100,
    probes: int = 40,
    slope: float = 0.6,
    spread: float = 0.0,
) -> BanditOutcome:
    """Train ECON on the synthetic game for `episodes` episodes with the given config overrides.

    P(right) = 0.9 − spread·h_j − slope·u_T; a negative slope uses 0.3 − slope·u_T (spread 0: in [0.3, 0.9]).
    """
    from econ.config.settings import load_settings
    from econ.learner.module import ECONModule

    cfg = compose_config([f"seed={seed}", *overrides], name="train")
    agents = cfg.agents
    torch.manual_seed(seed)
    embedder = HashEmbedder()
    module = ECONModule(load_settings(cfg), obs_dim=embedder.dim)
    backend = TemperatureBandit(tuple(agents.temperature_bounds), 0.9 if slope >= 0 else 0.3, slope, spread)
    client = LLMClient(backend, cache=None, max_concurrency=agents.n_agents, max_retries=0)
    runner = EpisodeRunner(client, embedder, GameSettings.from_config(cfg))
    problems = [
        Problem(f"synthetic:{seed}:{i}", f"Synthetic problem {i} of seed {seed}.", GOLD, "svamp")
        for i in range(episodes + probes)
    ]
    strategy = embedder.encode([STRATEGY])[0].expand(agents.n_agents, -1)
    probe_obs = [Observation.first_round(embedder.encode([p.question])[0], strategy) for p in problems[episodes:]]

    def probe() -> float:
        module.nets.eval()
        with torch.no_grad():
            means = [
                module.nets.belief.action_mean(module.nets.belief(o.fields[None], o.flags[None]))[0, :, 0]
                for o in probe_obs
            ]
        return float(torch.stack(means).mean())

    played: list[list[float]] = []
    play = runner.play

    async def recording_play(*args, **kwargs):
        result, transitions = await play(*args, **kwargs)
        played.append([float(t.action[:, 0].mean()) for t in transitions])
        return result, transitions

    runner.play = recording_play
    before = probe()
    loop = asyncio.new_event_loop()
    try:
        module.attach(problems[:episodes], runner, loop, _NoTraces(), episodes)
        trainer = L.Trainer(
            max_epochs=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="cpu",
            devices=1,
        )
        trainer.fit(module)
    finally:
        loop.close()

    def per_round(rows: list[list[float]]) -> list[float]:
        width = max(len(row) for row in rows)
        return [
            sum(row[k] for row in rows if len(row) > k) / max(1, sum(len(row) > k for row in rows))
            for k in range(width)
        ]

    return BanditOutcome(before, probe(), per_round(played[:window]), per_round(played[-window:]), module)
