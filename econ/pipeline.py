"""What train.py and evaluate.py share: start-up checks, components, evaluation and reporting."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from econ.config import redacted_container, save_resolved_config, validate
from econ.data.datasets import Problem, Splits, load_splits
from econ.embed import Embedder, build_embedder
from econ.envfile import load_env_file
from econ.evaluation import evaluate
from econ.game import prompts
from econ.game.episode import EpisodeRunner, GameSettings
from econ.game.policy import ActionPolicy, BeliefPolicy, FixedActionPolicy
from econ.llm.client import LLMClient, build_llm_client, instantiate_config
from econ.llm.reachability import check_backend_reachable
from econ.errors import ConfigError
from econ.module import ECONModule, check_compatible
from econ.report import paired_with_reference, print_table, summarize
from econ.runlog import JsonlLog
from econ.usagelog import RunUsageTracker

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class EconMethod:
    """An ECON evaluation method: the BNE rounds it plays, and whether the trained policy chooses the actions."""

    rounds: Callable[[DictConfig], int]
    learned: bool  # False: every executor plays agents.fixed_action; no checkpoint needed


ECON_METHODS = {
    "econ_no_bne": EconMethod(lambda cfg: 1, learned=True),
    "econ": EconMethod(lambda cfg: cfg.bne.max_iterations_infer, learned=True),
    "econ_fixed_action": EconMethod(lambda cfg: cfg.bne.max_iterations_infer, learned=False),
}


@dataclass
class Components:
    """Everything a run plays with, built and checked before the first LLM call."""

    run_dir: Path
    splits: Splits
    client: LLMClient
    embedder: Embedder
    loop: asyncio.AbstractEventLoop
    traces: JsonlLog
    usage: RunUsageTracker  # the client's tracker; also logs to usage.jsonl for the whole run's totals

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()
        self.traces.close()
        self.usage.close()


def start(cfg: DictConfig) -> Components:
    """Validate the config, save it redacted, load data and build the LLM client and embedder."""
    load_env_file()  # keys from ECON_ENV_FILE, before anything reads or redacts them
    validate(cfg)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    save_resolved_config(cfg, run_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_num_threads(cfg.learner.torch_threads)
    splits = load_splits(cfg.dataset, cfg.seed)
    usage = RunUsageTracker(run_dir / "usage.jsonl")
    client = build_llm_client(cfg.model, cfg.llm, usage=usage)
    check_backend_reachable(client.backend)  # an unreachable server fails now, not after a retry budget
    embedder = build_embedder(cfg.embedder)
    loop = asyncio.new_event_loop()
    return Components(run_dir, splits, client, embedder, loop, JsonlLog(run_dir / "traces.jsonl"), usage)


def load_checkpoint(path: str | Path, cfg: DictConfig) -> dict[str, Any]:
    """A checkpoint, refused with a one-line error when missing or trained with other network sizes."""
    if not Path(path).exists():
        raise ConfigError(f"ckpt_path={path}: no such checkpoint")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    check_compatible(checkpoint, learner_hparams(cfg)["agents"])
    return checkpoint


def learner_hparams(cfg: DictConfig) -> dict[str, Any]:
    """The parts of the config the learner and its checkpoint depend on."""
    keys = ("agents", "bne", "learner", "reward", "seed")
    return {key: OmegaConf.to_container(cfg[key], resolve=True) if key != "seed" else cfg.seed for key in keys}


def fingerprint(network: torch.nn.Module) -> str:
    """A short hash of a network's weights: results made by other weights are not reused."""
    digest = hashlib.sha256()
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def fixed_action_policy(cfg: DictConfig) -> FixedActionPolicy:
    """Every executor at agents.fixed_action (econ_fixed_action), in the agents' action units."""
    agents = cfg.agents
    return FixedActionPolicy(agents.fixed_action.temperature, agents.fixed_action.penalty, agents.n_agents,
                             tuple(agents.temperature_bounds), tuple(agents.penalty_bounds))


def method_policy(cfg: DictConfig, method: str, module: ECONModule | None) -> tuple[ActionPolicy, str]:
    """The policy an ECON method plays with, and a tag of what decides its actions (for resume)."""
    if ECON_METHODS[method].learned:
        module.nets.eval()
        return BeliefPolicy(module.nets.belief), fingerprint(module.nets.belief)
    fixed = json.dumps(OmegaConf.to_container(cfg.agents.fixed_action, resolve=True), sort_keys=True)
    return fixed_action_policy(cfg), hashlib.sha256(fixed.encode()).hexdigest()[:16]


def evaluate_econ(
    cfg: DictConfig, parts: Components, module: ECONModule | None, methods: list[str], problems: list[Problem]
) -> dict[str, dict[str, Any]]:
    """Evaluate ECON methods on the same problems: the module's (trained) policy, or the fixed action.

    Each method's entry records the policy fingerprint its per-problem log holds and, when econ was
    evaluated too, its paired difference with econ on these problems ("vs_econ").
    """
    settings = GameSettings.from_config(cfg)
    runner = EpisodeRunner(parts.client, parts.embedder, settings)
    summaries, by_method = {}, {}
    for method in methods:
        rounds = ECON_METHODS[method].rounds(cfg)
        policy, tag = method_policy(cfg, method, module)

        async def play(problem: Problem, method=method, rounds=rounds, policy=policy):
            result, _ = await runner.play(problem, method, rounds, policy)
            return result

        # same policy, same prompts, same way of asking for the commitment
        tag = (f"{tag}-{prompts.template_fingerprint()}-"
               f"{prompts.commitment_fingerprint(settings.structured_commitment)}")
        results = parts.loop.run_until_complete(evaluate(
            problems, play, method, parts.run_dir, parts.traces, cfg.llm.problem_concurrency, tag,
        ))
        summaries[method], by_method[method] = {**summarize(results), "policy": tag}, results
    for method, paired in paired_with_reference(by_method).items():
        summaries[method]["vs_econ"] = paired
    return summaries


def build_baseline(method_cfg: DictConfig) -> Any:
    """The baseline a `method` config with a `_target_` describes (single, self_consistency, mad); no LLM needed."""
    if "_target_" not in method_cfg:
        raise ConfigError(f"method={method_cfg.name}: not a baseline; choose {', '.join(ECON_METHODS)} "
                          "(with ckpt_path), single, self_consistency or mad")
    return instantiate_config(method_cfg)


def evaluate_baseline(cfg: DictConfig, parts: Components, baseline: Any, problems: list[Problem]) -> dict[str, Any]:
    """Evaluate a baseline on problems; logged results are reused only under the same settings and budget."""
    settings = json.dumps(baseline.describe(), sort_keys=True)
    policy = f"{hashlib.sha256(settings.encode()).hexdigest()[:16]}-{prompts.template_fingerprint()}"
    results = parts.loop.run_until_complete(evaluate(
        problems, partial(baseline.play, parts.client), baseline.name, parts.run_dir, parts.traces,
        cfg.llm.problem_concurrency, policy,
    ))
    return {**summarize(results), "policy": policy}


def write_results(
    cfg: DictConfig, parts: Components, summaries: dict[str, dict[str, Any]], extra: dict[str, Any],
    split: str = "test",
) -> dict[str, Any]:
    """results.json in the run dir, the final table on the terminal; both name the evaluated split."""
    results = {
        "methods": summaries,
        "eval_split": split,
        "dataset": cfg.dataset.name,
        "model": OmegaConf.select(cfg, "model.model") or OmegaConf.select(cfg, "model.name"),
        "n_agents": cfg.agents.n_agents,
        "usage": parts.usage.run_snapshot(),  # every process that worked on this run dir
        "config": redacted_container(cfg),
        **extra,
    }
    (parts.run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print_table(summaries, title=f"{cfg.dataset.name}: {len(getattr(parts.splits, split))} {split} problems")
    log.info("results written to %s", parts.run_dir / "results.json")
    return results
