"""What learning adds to an episode: updates, belief forwards, checkpoints and traces, as shares of its wall time.

    python -m benchmarks.bench_learner                         # loopback training + embedded-model episodes
    python -m benchmarks.bench_learner --local-episodes 0      # loopback only

Part 1 trains as `econ.train` does (ECONModule + EpisodeRunner in a Lightning Trainer with the
per-episode checkpoint callback; default learner config: update every 10 episodes on a batch of 16,
checkpoint every `learner.checkpoint_every` episodes) for `--episodes` episodes at N = 3, K = 1 against the
loopback server, and times each part. Part 2 plays `--local-episodes` episodes with the embedded
SmolLM2 model (conf/model/local.yaml) and relates the same per-update and per-forward costs to them.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import (
    EMBEDDERS,
    ForwardTimer,
    ServerProcess,
    cached,
    critical_path,
    loopback_client,
    machine_note,
    median,
    print_table,
    problems,
    timed_embedder,
)


def train_config(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from benchmarks.common import REPO

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=["agents.n_agents=3", *overrides])


class Stopwatch:
    """Seconds per call of a wrapped function."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, []

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds.append(time.perf_counter() - start)


def train_on_loopback(args, tmp: Path, timed, embedder) -> dict:
    """Train for args.episodes episodes on the loopback server; seconds spent in each part."""
    from hydra.utils import instantiate

    from econ.config.settings import load_settings
    from econ.game.episode import EpisodeRunner, GameSettings
    from econ.learner.callbacks import EpisodeCheckpoint
    from econ.learner.module import ECONModule
    from econ.run.jsonl import JsonlLog

    cfg = train_config([f"learner.max_episodes={args.episodes}"])
    with ServerProcess(args.latency) as server:
        client, backend = loopback_client(server, 4)
        module = ECONModule(load_settings(cfg), obs_dim=embedder.dim)
        runner = EpisodeRunner(client, embedder, GameSettings.from_config(cfg))
        loop = asyncio.new_event_loop()
        traces = JsonlLog(tmp / "traces.jsonl")
        traces.append = Stopwatch(traces.append)
        module.attach(problems(args.episodes, "svamp"), runner, loop, traces, cfg.learner.max_episodes)
        module.update = Stopwatch(module.update)
        forward = ForwardTimer(module.nets.belief)
        paths, plays = [], []
        play = runner.play

        async def timed_play(*a, **kw):
            backend.spans.clear()
            start = time.perf_counter()
            try:
                return await play(*a, **kw)
            finally:
                plays.append(time.perf_counter() - start)
                paths.append(critical_path(backend.spans))

        runner.play = timed_play
        checkpoint = EpisodeCheckpoint(tmp / "last.ckpt", cfg.learner.checkpoint_every)
        checkpoint.save = Stopwatch(checkpoint.save)
        trainer = instantiate(
            cfg.trainer,
            logger=False,
            max_epochs=1,
            enable_checkpointing=False,
            default_root_dir=str(tmp),
            callbacks=[checkpoint],
        )
        start = time.perf_counter()
        trainer.fit(module)
        fit = time.perf_counter() - start
        loop.run_until_complete(client.aclose())
        loop.close()
        traces.close()
    return {
        "episodes": len(plays),
        "fit": fit,
        "play": sum(plays),
        "path": sum(paths),
        "update": module.update.seconds,
        "forward": forward.seconds,
        "checkpoint": checkpoint.save.seconds,
        "traces": traces.append.seconds,
        "size_mb": (tmp / "last.ckpt").stat().st_size / 1e6,
        "embed": timed.seconds,
        "update_interval": cfg.learner.update_interval,
        "checkpoint_every": cfg.learner.checkpoint_every,
    }


def play_local(n_episodes: int, embedder) -> dict:
    """Episodes with the embedded model (default settings, N = 3): wall and belief-forward seconds."""
    from econ.config.settings import load_settings
    from econ.game.episode import EpisodeRunner, GameSettings
    from econ.game.policy import BeliefPolicy
    from econ.learner.module import ECONModule
    from econ.llm.client import LLMClient, build_llm_client

    cfg = train_config(["model=local"])
    client: LLMClient = build_llm_client(cfg.model, {"cache": False})
    module = ECONModule(load_settings(cfg), obs_dim=embedder.dim)
    module.nets.eval()
    runner = EpisodeRunner(client, embedder, GameSettings.from_config(cfg))
    policy = BeliefPolicy(module.nets.belief, module.learner_cfg["exploration_sigma"], module.generator)
    forward = ForwardTimer(module.nets.belief)
    loop = asyncio.new_event_loop()
    walls, forwards = [], []
    for problem in problems(n_episodes + 1, "svamp")[1:]:  # not the problems part 1 trained on first
        forward.seconds = 0.0
        start = time.perf_counter()
        loop.run_until_complete(runner.play(problem, "train", module.k_train, policy))
        walls.append(time.perf_counter() - start)
        forwards.append(forward.seconds)
    loop.run_until_complete(client.aclose())
    loop.close()
    return {"wall": median(walls), "forward": median(forwards), "episodes": len(walls)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--episodes", type=int, default=40, help="loopback training episodes")
    parser.add_argument("--local-episodes", type=int, default=2, help="embedded-model episodes (~20-60 s each)")
    parser.add_argument("--embedder", choices=EMBEDDERS, default="minilm")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with ServerProcess(0.0) as embed_server, tempfile.TemporaryDirectory() as tmp:
        timed = timed_embedder(args.embedder, embed_server)
        t = train_on_loopback(args, Path(tmp), timed, cached(timed, Path(tmp)))
        local = play_local(args.local_episodes, cached(timed, Path(tmp) / "local")) if args.local_episodes else None

    episodes, per_update = t["episodes"], median(t["update"])
    per_episode = {  # seconds per episode, amortised
        f"learner update (every {t['update_interval']} episodes)": sum(t["update"]) / episodes,
        "belief forward (acting)": t["forward"] / episodes,
        f"checkpoint (every {t['checkpoint_every']}, {t['size_mb']:.1f} MB)": sum(t["checkpoint"]) / episodes,
        "traces.jsonl append": sum(t["traces"]) / episodes,
        "everything but LLM calls": (t["fit"] - t["path"]) / episodes,
    }
    loop_wall = t["fit"] / episodes
    rows = [(name, seconds * 1000, 100 * seconds / loop_wall) for name, seconds in per_episode.items()]
    print_table(
        f"Training on the loopback server: {episodes} episodes, N = 3, K = 1, {args.latency * 1000:.0f} ms per call, "
        f"embedder {args.embedder}; {loop_wall:.3f} s per episode, LLM critical path {t['path'] / episodes:.3f} s, "
        f"{len(t['update'])} updates of {per_update * 1000:.0f} ms (median) ({machine_note()})",
        ["part", "ms per episode", "% of episode wall"],
        rows,
    )
    if local:
        amortised = per_update / t["update_interval"]
        rows = [
            (
                f"learner update, amortised (every {t['update_interval']} episodes)",
                amortised * 1000,
                100 * amortised / local["wall"],
            ),
            ("learner update, one (vs one episode)", per_update * 1000, 100 * per_update / local["wall"]),
            ("belief forward (acting)", local["forward"] * 1000, 100 * local["forward"] / local["wall"]),
            (
                f"checkpoint (every {t['checkpoint_every']})",
                median(t["checkpoint"]) * 1000 / t["checkpoint_every"],
                100 * median(t["checkpoint"]) / t["checkpoint_every"] / local["wall"],
            ),
        ]
        print_table(
            f"Embedded model (SmolLM2-135M, defaults), N = 3, K = 1: {local['wall']:.1f} s per episode "
            f"(median of {local['episodes']}) ({machine_note()})",
            ["part", "ms per episode", "% of episode wall (target <= 1)"],
            rows,
        )


if __name__ == "__main__":
    main()
