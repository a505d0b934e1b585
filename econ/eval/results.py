"""Evaluate methods on the same problems, then write results.json and the final table."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

from omegaconf import DictConfig

from econ.config.redaction import redacted_container
from econ.data.datasets import Problem
from econ.eval.loop import evaluate
from econ.eval.report import paired_with_reference, print_table, print_usage_by_model, summarize
from econ.llm.team import team_model
from econ.methods import Method, Players
from econ.run.startup import Components
from econ.run.writable import replace_text

log = logging.getLogger(__name__)


def evaluate_methods(
    methods: list[Method],
    players: Players,
    parts: Components,
    problems: list[Problem],
    concurrency: int = 1,
) -> dict[str, dict[str, Any]]:
    """Each method on the same problems, resumable; its summary records the tag its per-problem log holds.

    When econ was evaluated too, every other method's entry holds its paired difference with econ on
    these problems ("vs_econ").
    """
    summaries, by_method = {}, {}
    for method in methods:
        tag = method.tag(players)
        results = parts.loop.run_until_complete(
            evaluate(
                problems,
                partial(method.play, players),
                method.name,
                parts.run_dir,
                parts.traces,
                concurrency,
                tag,
            )
        )
        summaries[method.name], by_method[method.name] = {**summarize(results), "policy": tag}, results
    for name, paired in paired_with_reference(by_method).items():
        summaries[name]["vs_econ"] = paired
    return summaries


def write_results(
    cfg: DictConfig,
    parts: Components,
    summaries: dict[str, dict[str, Any]],
    extra: dict[str, Any],
    split: str = "test",
) -> dict[str, Any]:
    """results.json in the run dir, the final table on the terminal; both name the evaluated split."""
    results = {
        "methods": summaries,
        "eval_split": split,
        "dataset": cfg.dataset.name,
        "model": team_model(parts.team.describe()),  # what played, not a config group's display name
        "n_agents": cfg.agents.n_agents,
        "team": parts.team.describe(),  # the coordinator's and each executor's model
        "usage": parts.usage.run_snapshot(),  # every process that worked on this run dir; by_model, cost_usd
        "config": redacted_container(cfg),
        **extra,
    }
    replace_text(parts.run_dir / "results.json", json.dumps(results, indent=2, default=str))
    print_table(summaries, title=f"{cfg.dataset.name}: {len(getattr(parts.splits, split))} {split} problems")
    print_usage_by_model(results["usage"])
    log.info("results written to %s", parts.run_dir / "results.json")
    return results
