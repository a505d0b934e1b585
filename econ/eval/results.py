"""Evaluate methods on a split and write results.json and the final table."""

from __future__ import annotations

import hashlib
import json
import logging
from functools import partial
from typing import Any

from omegaconf import DictConfig, OmegaConf

from econ.config.redaction import redacted_container
from econ.data.datasets import Problem
from econ.errors import ConfigError
from econ.eval.loop import evaluate
from econ.eval.report import paired_with_reference, print_table, summarize
from econ.game import prompts
from econ.game.episode import EpisodeRunner, GameSettings
from econ.learner.module import ECONModule
from econ.llm.client import instantiate_config
from econ.methods.econ import ECON_METHODS, method_policy
from econ.run.startup import Components

log = logging.getLogger(__name__)


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
