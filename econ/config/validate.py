"""Start-up validation: every value a run depends on, checked before any model loads or LLM call."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from econ.config.redaction import reject_secret_values, walk
from econ.errors import ConfigError

# Compared as numbers below: a string here (`agents.dropout=abc`) must be a ConfigError, not a TypeError.
NUMBER_KEYS = (
    "agents.dropout", "agents.top_p", "agents.coordinator_temperature", "bne.threshold", "reward.lr", "reward.reg",
    "reward.lambda_sd", "reward.lambda_m", "reward.lambda_e", "learner.gamma", "learner.tau", "learner.lr",
    "learner.lr_coordinator", "learner.exploration_sigma", "llm.retry_initial_wait_s", "llm.retry_max_wait_s",
    "dataset.validation_fraction", "agents.fixed_action.temperature", "agents.fixed_action.penalty",
)
EVAL_SPLITS = ("test", "validation")


def _require(condition: bool, key: str, fix: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {fix}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bounds(cfg: DictConfig, key: str, low: float, high: float | None) -> None:
    value = OmegaConf.select(cfg, key)
    ok = isinstance(value, (list, ListConfig)) and len(value) == 2 and all(_is_number(v) for v in value)
    _require(ok, f"{key}={value}", "give two numbers [min, max]")
    lo, hi = float(value[0]), float(value[1])
    limit = f"[{low}, {high}]" if high is not None else f">= {low}"
    _require(lo >= low and (high is None or hi <= high), f"{key}={list(value)}", f"keep both within {limit}")
    _require(lo <= hi, f"{key}={list(value)}", "min must not exceed max")


def validate(cfg: DictConfig) -> None:
    """Check every value a run depends on; raise ConfigError naming the key and the fix."""
    for key, value in walk(OmegaConf.to_container(cfg, resolve=False)):
        # a `???` value (model.model of openai_compatible) would fail later inside OmegaConf, with a traceback
        _require(value != "???", key, f"unset; pass {key}=<value> on the command line")
    for key in NUMBER_KEYS:
        value = OmegaConf.select(cfg, key, default=0)
        _require(_is_number(value), f"{key}={value}", "use a number")
    agents = cfg.agents
    for key in ("n_agents", "belief_dim", "entity_dim", "n_heads", "n_blocks"):
        value = agents[key]
        _require(_is_int(value) and value >= 1, f"agents.{key}={value}", "use a whole number >= 1")
    for key in ("belief_dim", "entity_dim"):
        _require(agents[key] % agents.n_heads == 0, f"agents.{key}={agents[key]}",
                 f"must be divisible by agents.n_heads={agents.n_heads}")
    _require(0 <= agents.dropout < 1, f"agents.dropout={agents.dropout}", "use a value in [0, 1)")
    group = agents.group_size
    _require(group is None or (_is_int(group) and group >= 1), f"agents.group_size={group}",
             "use null (flat) or a whole number >= 1")
    _bounds(cfg, "agents.temperature_bounds", 0.0, None)
    _bounds(cfg, "agents.penalty_bounds", 0.0, 1.0)
    _require(0 < agents.top_p <= 1, f"agents.top_p={agents.top_p}", "use a value in (0, 1]")
    fixed = agents.fixed_action
    _require(fixed.temperature >= 0, f"agents.fixed_action.temperature={fixed.temperature}", "use a value >= 0")
    _require(0 <= fixed.penalty <= 1, f"agents.fixed_action.penalty={fixed.penalty}", "use a value in [0, 1]")
    for key in ("max_tokens_strategy", "max_tokens_executor", "max_tokens_commitment"):
        _require(_is_int(agents[key]) and agents[key] >= 1, f"agents.{key}={agents[key]}", "use a whole number >= 1")
    structured = agents.get("structured_commitment", True)
    _require(isinstance(structured, bool), f"agents.structured_commitment={structured}", "use true or false")

    bne = cfg.bne
    for key in ("max_iterations_infer", "max_iterations_train", "max_rounds"):  # train follows infer by default
        _require(_is_int(bne[key]) and bne[key] >= 1, f"bne.{key}={bne[key]}", "use a whole number >= 1")
    _require(bne.threshold > 0, f"bne.threshold={bne.threshold}", "use a positive number")

    reward = cfg.reward
    alpha = list(reward.alpha_init) if isinstance(reward.alpha_init, (list, ListConfig)) else [reward.alpha_init]
    _require(len(alpha) == 3 and all(_is_number(a) and a > 0 for a in alpha), f"reward.alpha_init={alpha}",
             "give three positive weights [AL, TS, CC]")
    for key in ("lr", "reg", "lambda_sd", "lambda_m", "lambda_e"):
        _require(reward[key] >= 0, f"reward.{key}={reward[key]}", "use a value >= 0")

    learner = cfg.learner
    for key in ("buffer_size", "batch_size", "update_interval", "updates_per_step", "policy_delay",
                "checkpoint_every", "torch_threads"):
        _require(_is_int(learner[key]) and learner[key] >= 1, f"learner.{key}={learner[key]}", "use a whole number >= 1")
    _require(0 < learner.gamma <= 1, f"learner.gamma={learner.gamma}", "use a value in (0, 1]")
    _require(learner.exploration_sigma >= 0, f"learner.exploration_sigma={learner.exploration_sigma}", "use a value >= 0")
    episodes = learner.max_episodes
    _require(episodes is None or (_is_int(episodes) and episodes >= 0), f"learner.max_episodes={episodes}",
             "use null (one pass over the train split) or a whole number >= 0")

    limit = cfg.dataset.limit
    _require(limit is None or (_is_int(limit) and limit >= 1), f"dataset.limit={limit}",
             "use null (all problems) or a whole number >= 1")
    split = OmegaConf.select(cfg, "eval_split", default="test")  # train only; evaluate always uses test
    _require(split in EVAL_SPLITS, f"eval_split={split}", f"use one of {', '.join(EVAL_SPLITS)}")
    _require(split != "validation" or OmegaConf.select(cfg, "dataset.validation_fraction", default=0) > 0,
             "eval_split=validation", "needs a validation split; set dataset.validation_fraction in (0, 1), e.g. 0.2")
    for key in ("max_concurrency", "max_retries"):
        value = cfg.llm[key]
        _require(_is_int(value) and value >= (1 if key == "max_concurrency" else 0), f"llm.{key}={value}",
                 "use a whole number >= 1" if key == "max_concurrency" else "use a whole number >= 0")
    reject_secret_values(cfg)

