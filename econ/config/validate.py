"""Start-up validation: every value a run depends on, checked once, before any model loads or LLM call.

Each key has one `Rule` in `RULES` (its type, range, and what null means); the few checks that
relate two keys follow it. A failure is a one-line ConfigError `key=value: <what to use>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from econ.config.redaction import reject_secret_values, walk
from econ.errors import ConfigError

EVAL_SPLITS = ("test", "validation")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rule:
    """What one key accepts: a whole number, a number, a boolean, two numbers [min, max] or a choice."""

    kind: str  # "whole" | "number" | "bool" | "bounds" | "choice"
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is refused
    high_open: bool = False
    null: str | None = None  # what null means, when null is allowed
    choices: tuple[str, ...] = ()

    def fix(self) -> str:
        """What to use instead, as the error message says it."""
        if self.kind == "bool":
            return "use true or false"
        if self.kind == "choice":
            return f"use one of {', '.join(self.choices)}"
        if self.kind == "bounds":
            return "give two numbers [min, max]"
        if self.kind == "whole":
            text = f"a whole number >= {int(self.low)}"
            return f"use null ({self.null}) or {text}" if self.null else f"use {text}"
        if self.low is None and self.high is None:
            return "use a number"
        if self.high is None:
            return "use a positive number" if self.low == 0 and self.low_open else f"use a value >= {self.low:g}"
        return (
            f"use a value in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        )

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.null is not None
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return value in self.choices
        if self.kind == "bounds":
            return isinstance(value, (list, ListConfig)) and len(value) == 2 and all(_is_number(v) for v in value)
        if not (_is_int(value) if self.kind == "whole" else _is_number(value)):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below


def whole(low: int = 1, null: str | None = None) -> Rule:
    return Rule("whole", low=low, null=null)


def number(
    low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False
) -> Rule:
    return Rule("number", low, high, low_open, high_open)


RULES: dict[str, Rule] = {
    **{f"agents.{key}": whole(1) for key in ("n_agents", "belief_dim", "entity_dim", "n_heads", "n_blocks")},
    "agents.dropout": number(0, 1, high_open=True),
    "agents.group_size": whole(1, null="flat"),
    "agents.temperature_bounds": Rule("bounds", low=0.0),
    "agents.penalty_bounds": Rule("bounds", low=0.0, high=1.0),
    "agents.top_p": number(0, 1, low_open=True),
    "agents.fixed_action.temperature": number(0),
    "agents.fixed_action.penalty": number(0, 1),
    "agents.coordinator_temperature": number(),
    **{f"agents.{key}": whole(1) for key in ("max_tokens_strategy", "max_tokens_executor", "max_tokens_commitment")},
    "agents.structured_commitment": Rule("bool"),
    **{f"bne.{key}": whole(1) for key in ("max_iterations_infer", "max_iterations_train", "max_rounds")},
    "bne.threshold": number(0, low_open=True),
    **{f"reward.{key}": number(0) for key in ("lr", "reg", "lambda_sd", "lambda_m", "lambda_e")},
    **{
        f"learner.{key}": whole(1)
        for key in (
            "buffer_size",
            "batch_size",
            "update_interval",
            "updates_per_step",
            "policy_delay",
            "checkpoint_every",
            "torch_threads",
        )
    },
    "learner.gamma": number(0, 1, low_open=True),
    **{f"learner.{key}": number() for key in ("tau", "lr", "lr_policy", "lr_coordinator")},
    "learner.exploration_sigma": number(0),
    "learner.max_episodes": whole(0, null="one pass over the train split"),
    "dataset.limit": whole(1, null="all problems"),
    "dataset.validation_fraction": number(),  # its range depends on the split sizes: checked by load_splits
    "llm.max_concurrency": whole(1),
    "llm.max_retries": whole(0),
    "llm.retry_initial_wait_s": number(),
    "llm.retry_max_wait_s": number(),
    "eval_split": Rule("choice", choices=EVAL_SPLITS),  # train only; evaluate always uses test
    "allow_team_change": Rule("bool"),
    **{
        f"{role}.{key}": Rule("number", low=0, null="not priced: no cost")
        for role in ("model", "coordinator")
        for key in ("price_per_mtok_in", "price_per_mtok_out")
    },
}
# Keys a config may leave out, and the value a run then uses.
DEFAULTS = {
    "agents.structured_commitment": True,
    "agents.group_size": None,
    "eval_split": "test",
    "dataset.validation_fraction": 0,
    "allow_team_change": False,
}


def _require(condition: bool, key: str, fix: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {fix}")


def _shown(value: Any) -> Any:
    return list(value) if isinstance(value, ListConfig) else value


def validate(cfg: DictConfig) -> None:
    """Check every value a run depends on; raise ConfigError naming the key and the fix."""
    for key, value in walk(OmegaConf.to_container(cfg, resolve=False)):
        # a `???` value (model.model of openai_compatible) would fail later inside OmegaConf, with a traceback
        _require(value != "???", key, f"unset; pass {key}=<value> on the command line")
    for key, rule in RULES.items():
        value = OmegaConf.select(cfg, key, default=DEFAULTS.get(key, 0))
        _require(rule.accepts(value), f"{key}={_shown(value)}", rule.fix())
        if rule.kind == "bounds":
            low, high = float(value[0]), float(value[1])
            limit = f"[{rule.low}, {rule.high}]" if rule.high is not None else f">= {rule.low}"
            _require(
                low >= rule.low and (rule.high is None or high <= rule.high),
                f"{key}={list(value)}",
                f"keep both within {limit}",
            )
            _require(low <= high, f"{key}={list(value)}", "min must not exceed max")
    _check_related(cfg)
    reject_secret_values(cfg)


def _check_related(cfg: DictConfig) -> None:
    """The checks that relate several keys, or a list's entries."""
    agents = cfg.agents
    for key in ("belief_dim", "entity_dim"):
        _require(
            agents[key] % agents.n_heads == 0,
            f"agents.{key}={agents[key]}",
            f"must be divisible by agents.n_heads={agents.n_heads}",
        )
    reward = cfg.reward
    alpha = list(reward.alpha_init) if isinstance(reward.alpha_init, (list, ListConfig)) else [reward.alpha_init]
    _require(
        len(alpha) == 3 and all(_is_number(a) and a > 0 for a in alpha),
        f"reward.alpha_init={alpha}",
        "give three positive weights [AL, TS, CC]",
    )
    from econ.llm.team import team_entries

    for i, entry in enumerate(team_entries(cfg) or []):  # each entry a known model config, at most n_agents
        for key in ("price_per_mtok_in", "price_per_mtok_out"):
            price = entry.get(key)
            _require(
                price is None or (_is_number(price) and price >= 0),
                f"team.executors[{i}].{key}={price}",
                "use null (not priced) or a value >= 0",
            )
    split = OmegaConf.select(cfg, "eval_split", default="test")
    _require(
        split != "validation" or OmegaConf.select(cfg, "dataset.validation_fraction", default=0) > 0,
        "eval_split=validation",
        "needs a validation split; set dataset.validation_fraction in (0, 1), e.g. 0.2",
    )
