"""Start-up validation: every value a run depends on, checked once, before any model loads or LLM call.

Each key of conf/ has one `Rule` in `RULES` (its type, range, and what null means), or is listed in
`FREE_FORM` with the reason it is not checked here; the checks that relate several keys follow them
(`RELATED`). A failure is a one-line ConfigError `key=value: <what to use>`. tests/test_config_rules.py
walks every composed config and fails on a key that is in neither place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from econ.config.redaction import reject_secret_values, walk
from econ.errors import ConfigError
from econ.llm.client import PRICE_KEYS

EVAL_SPLITS = ("test", "validation")
DATASET_NAMES = ("svamp", "gsm8k", "math", "custom")
ANSWER_TYPES = ("numeric", "math")
BUDGET_KINDS = ("calls", "completion_tokens")
ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps", "tpu")
SEED_MAX = 2**32 - 1  # numpy's seed range, which seed_everything enforces
INTERPOLATION_HINT = "fix the ${...} interpolation or give a value"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, ListConfig))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _range(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        return f"> {_num(low)}" if low_open else f">= {_num(low)}"
    return f"in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"


@dataclass(frozen=True)
class Rule:
    """What one key accepts.

    kind: "whole" (an integer), "number", "bool", "choice" (one of `choices`), "bounds" (two numbers
    [min, max] within low..high), "numbers" (`length` numbers each within low..high), "names" (a non-empty
    list of `choices`, or of names when `choices` is empty). `null` says what null means, when it is allowed.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is refused
    high_open: bool = False
    null: str | None = None
    choices: tuple[str, ...] = ()
    length: int = 0
    empty_ok: bool = False  # names: an empty list is fine

    def _in_range(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def _text(self) -> str:
        """What a valid value is, without what null means."""
        bounded = self.low is not None or self.high is not None
        span = _range(self.low, self.high, self.low_open, self.high_open) if bounded else ""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "names":
            if self.choices:
                return f"a list of {'any' if self.empty_ok else 'one or more'} of {', '.join(self.choices)}"
            return "a list of names, e.g. [a, b]" if self.empty_ok else "a list of one or more names"
        if self.kind == "bounds":
            return "two numbers [min, max] with min < max" + (f", both {span}" if span else "")
        if self.kind == "numbers":
            return f"{self.length} numbers" + (f", each {span}" if span else "")
        if self.kind == "whole":
            return f"a whole number {span}"
        if not bounded:
            return "a number"
        return "a positive number" if self.low == 0 and self.low_open and self.high is None else f"a number {span}"

    def fix(self) -> str:
        """What to use instead, as the error message says it."""
        return f"use null ({self.null}) or {self._text()}" if self.null else f"use {self._text()}"

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.null is not None
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return isinstance(value, str) and value in self.choices
        if self.kind == "names":
            return (
                _is_list(value)
                and (self.empty_ok or len(value) > 0)
                and all(isinstance(v, str) and (not self.choices or v in self.choices) for v in value)
            )
        if self.kind in ("bounds", "numbers"):
            size = 2 if self.kind == "bounds" else self.length
            if not (_is_list(value) and len(value) == size and all(_is_number(v) for v in value)):
                return False
            return all(self._in_range(v) for v in value) and (self.kind != "bounds" or value[0] < value[1])
        if not (_is_int(value) if self.kind == "whole" else _is_number(value)):
            return False
        return self._in_range(value)

    def bad_values(self) -> list[Any]:
        """Values this rule refuses, derived from it: the wrong type, each side of each bound, not a choice,
        null when null is not allowed, and an interpolation to nowhere. Tests feed each one to `validate`."""
        bad: list[Any] = ["${no.such.key}"]
        if self.null is None:
            bad.append(None)
        if self.kind == "bool":
            return [*bad, "maybe", 2, 0.5, [True]]
        if self.kind == "choice":
            return [*bad, "nosuch", 3, True, [self.choices[0]]]
        if self.kind == "names":
            names = [*bad, self.choices[0] if self.choices else "name", [1], [["name"]]]
            return [*names, ["nosuch"]] if self.choices else names if self.empty_ok else [*names, []]
        if self.kind in ("bounds", "numbers"):
            size = 2 if self.kind == "bounds" else self.length
            inside = self._inside()
            bad += ["abc", inside, [inside] * (size - 1), [inside] * (size + 1), ["abc"] * size, [True] * size]
            bad += [[edge] * size for edge in self._outside()]
            if self.kind == "bounds":  # min above max, and min equal to max
                above = inside + 0.05 if self.high is None else (inside + self.high) / 2
                bad += [[above, inside], [inside, inside]]
            return bad
        bad += ["abc", True, [self._inside()], float("nan"), float("inf")]
        if self.kind == "whole":
            bad.append(self._inside() + 0.5)
        return [*bad, *self._outside()]

    def _inside(self) -> float:
        """A valid number (whole for `whole`), for building bad lists and non-integers."""
        low = self.low if self.low is not None else 0
        if self.kind == "whole":
            return int(low) + (1 if self.low_open else 0)
        if self.high is not None:
            return (low + self.high) / 2
        return low + 0.5

    def _outside(self) -> list[float]:
        """Numbers just past each bound (the bound itself when it is open)."""
        step = 1 if self.kind == "whole" else 0.5
        out = []
        if self.low is not None:
            out.append(self.low if self.low_open else self.low - step)
        if self.high is not None:
            out.append(self.high if self.high_open else self.high + step)
        return out


def whole(low: int = 1, null: str | None = None, high: int | None = None) -> Rule:
    return Rule("whole", low=low, high=high, null=null)


def number(
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    null: str | None = None,
) -> Rule:
    return Rule("number", low, high, low_open, high_open, null=null)


def flag(null: str | None = None) -> Rule:
    return Rule("bool", null=null)


def choice(*choices: str, null: str | None = None) -> Rule:
    return Rule("choice", choices=choices, null=null)


def _method_names() -> tuple[str, ...]:
    from econ.methods import method_names

    return tuple(method_names())


ACTION_BOUNDS = {"temperature_bounds": Rule("bounds", low=0.0), "penalty_bounds": Rule("bounds", low=0.0, high=1.0)}

RULES: dict[str, Rule] = {
    # top level (train.yaml, evaluate.yaml)
    "seed": whole(0, high=SEED_MAX),
    "resume": flag(),
    "eval_methods": Rule("names", choices=_method_names(), empty_ok=True),  # train only; [] = train only
    "eval_split": choice(*EVAL_SPLITS),  # train only; evaluate always uses test
    # agents
    **{f"agents.{key}": whole(1) for key in ("n_agents", "belief_dim", "entity_dim", "n_heads", "n_blocks")},
    "agents.dropout": number(0, 1, high_open=True),
    "agents.group_size": whole(1, null="flat"),
    **{f"agents.{key}": rule for key, rule in ACTION_BOUNDS.items()},
    "agents.top_p": number(0, 1, low_open=True),
    "agents.fixed_action.temperature": number(0),
    "agents.fixed_action.penalty": number(0, 1),
    "agents.coordinator_temperature": number(0),
    **{f"agents.{key}": whole(1) for key in ("max_tokens_strategy", "max_tokens_executor", "max_tokens_commitment")},
    "agents.structured_commitment": flag(),
    # bne
    **{f"bne.{key}": whole(1) for key in ("max_iterations_infer", "max_iterations_train", "max_rounds")},
    "bne.threshold": number(0, low_open=True),
    "bne.executors_see_commitment": flag(),
    # reward
    "reward.alpha_init": Rule("numbers", low=0, low_open=True, length=3),  # [AL, TS, CC]
    **{f"reward.{key}": number(0) for key in ("lr", "reg", "lambda_sd", "lambda_m", "lambda_e")},
    # learner
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
    "learner.tau": number(0, 1),
    **{f"learner.{key}": number(0, low_open=True) for key in ("lr", "lr_policy", "lr_coordinator")},
    "learner.exploration_sigma": number(0),
    "learner.max_episodes": whole(0, null="one pass over the train split"),
    # dataset/*
    "dataset.name": choice(*DATASET_NAMES),
    "dataset.answer_type": choice(*ANSWER_TYPES),
    "dataset.offline": flag(),
    "dataset.test_fraction": number(0, 1, low_open=True),
    "dataset.validation_fraction": number(0, 1, high_open=True),  # and within the split sizes: load_splits
    "dataset.limit": whole(1, null="all problems"),
    "dataset.max_question_length": whole(1, null="no limit"),
    "dataset.max_answer_length": whole(1, null="no limit"),
    # llm
    "llm.cache": flag(),
    "llm.cache_tolerance": number(0, 1, high_open=True),
    "llm.max_concurrency": whole(1),
    "llm.max_retries": whole(0),
    "llm.retry_initial_wait_s": number(0),
    "llm.retry_max_wait_s": number(0),
    "llm.timeout_s": number(0, low_open=True),
    "llm.problem_concurrency": whole(1),
    # model/*
    "model.n_ctx": whole(256),  # local: room for a chat prompt
    "model.n_threads": whole(1, null="the cores this process may use"),  # local
    "model.n_parallel": whole(1, null="min(6, max(4, 2 x cores))"),  # local: 1 = the serial path
    "model.repack_weights": Rule("bool"),  # local
    "model.max_repeat_penalty": number(1),  # local: below 1 rewards repetition
    "model.max_repetition_penalty": number(1),  # together
    "model.max_frequency_penalty": number(0, 2),  # openai_compatible: the API's frequency_penalty is <= 2
    # embedder/*
    "embedder.memory_items": whole(0),
    "embedder.inner.dim": whole(1),  # together
    "embedder.inner.timeout_s": number(0, low_open=True),  # together
    "embedder.inner.max_retries": whole(0),  # together
    # logger/*
    "logger.offline": flag(null="online when a W&B key is available"),  # wandb
    "logger.tags": Rule("names", empty_ok=True),  # wandb
    # method/* (evaluate)
    "method.rounds": whole(1),
    "method.samples": whole(1),
    "method.agents": whole(2),  # mad: a debate needs two
    "method.n_agents": whole(1),
    "method.temperature": number(0),
    "method.penalty": number(0, 1),
    "method.top_p": number(0, 1, low_open=True),
    "method.max_tokens": whole(1),
    "method.seed": whole(0, high=SEED_MAX),
    **{f"method.{key}": rule for key, rule in ACTION_BOUNDS.items()},  # econ_fixed_action
    "method.budget": choice(*BUDGET_KINDS, null="the method's own rounds or samples"),
    "method.executor": whole(0),  # single, self_consistency: which executor model plays (teams)
    # trainer (train)
    "trainer.accelerator": choice(*ACCELERATORS),
    "trainer.devices": whole(1),
    "trainer.enable_progress_bar": flag(),
    "trainer.enable_model_summary": flag(),
    "trainer.log_every_n_steps": whole(1),
    "trainer.num_sanity_val_steps": whole(0),
    "allow_team_change": Rule("bool"),
    **{
        f"{role}.{key}": Rule("number", low=0, null="not priced: no cost")
        for role in ("model",)  # coordinator's: in _team_prices (the group is absent by default)
        for key in PRICE_KEYS
    },
}

# Keys not checked here, each with the reason: names, paths and text, checked (in one line) where they are used.
FREE_FORM: dict[str, str] = {
    "task_name": "a name: the run dir's parent",
    "ckpt_path": "a file: load_checkpoint refuses a missing or foreign checkpoint",
    "optimized_metric": "<method>/<metric>: checked against eval_methods (RELATED)",
    "paths.root_dir": "a directory",
    "paths.output_dir": "a directory",
    "paths.cache_dir": "a directory",
    "dataset.path": "a file, dir or {split} pattern: load_splits names what is wrong with it",
    "dataset.hub_id": "a Hugging Face dataset id",
    "dataset.hub_config": "a Hugging Face dataset config name",
    "dataset.train_split": "a split name of the source",
    "dataset.test_split": "a split name of the source",
    "dataset.question_field": "a field name (or a list of them): load_splits names a missing field",
    "dataset.answer_field": "a field name: load_splits names a missing field",
    "dataset.solution_field": "a field name",
    "dataset.id_field": "a field name",
    "llm.cache_path": "a file",
    "embedder.cache_path": "a file",
    "embedder.inner.device": "a torch device string (cpu, cuda:0, mps, ...)",
    "embedder.inner.model": "a model name the embedding API serves",
    "embedder.inner.base_url": "a URL",
    "embedder.inner.api_key_env": "an environment variable name: a missing key is refused in one line",
    "model.name": "a display name",
    "model.model": "a model name the server serves",
    "model.path": "a GGUF file: the local backend refuses a missing one",
    "model.base_url": "a URL: the backend refuses a non-http(s) one and the reachability check an unreachable one",
    "model.api_key_env": "an environment variable name: a missing key is refused in one line",
    "logger.name": "a display name",
    "logger.project": "a W&B project name",
    "logger.entity": "a W&B entity name",
    "logger.group": "a W&B group name",
    "method.name": "the method's name in results.json",
    "method.budget_source": "a results.json: load_budget refuses a missing or foreign file",
    "method.budget_method": "a method of budget_source's results.json: load_budget names the ones it holds",
    **{
        f"{group}._target_": "a class path named by the option file"
        for group in ("model", "embedder", "embedder.inner", "logger", "method", "trainer")
    },
}

# Groups every run has: a key of theirs (or seed) missing from the config is refused, unless it has a default.
REQUIRED_GROUPS = ("agents", "bne", "reward", "learner", "llm")
# Keys a config may leave out, and the value a run then uses.
DEFAULTS = {
    "agents.structured_commitment": True,
    "agents.group_size": None,
    "eval_split": "test",
    "dataset.validation_fraction": 0,
    "allow_team_change": False,
}
_ABSENT = object()


def _require(condition: bool, key: str, fix: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {fix}")


def _shown(value: Any) -> Any:
    return "null" if value is None else list(value) if isinstance(value, ListConfig) else value


def _select(cfg: DictConfig, key: str) -> Any:
    """The key's resolved value (_ABSENT when it is not in the config); a broken interpolation is a ConfigError."""
    try:
        return OmegaConf.select(cfg, key, default=_ABSENT, throw_on_resolution_failure=True)
    except OmegaConfBaseException as error:
        if "HydraConfig was not set" in str(error):  # ${hydra:...} outside a Hydra run (tests): not ours to check
            return _ABSENT
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raw = dict(walk(OmegaConf.to_container(cfg, resolve=False))).get(key, "")
        raise ConfigError(f"{key}={raw}: {first}; {INTERPOLATION_HINT}") from None


def validate(cfg: DictConfig) -> None:
    """Check every value a run depends on; raise ConfigError naming the key and the fix."""
    for key, value in walk(OmegaConf.to_container(cfg, resolve=False)):
        # a `???` value (model.model of openai_compatible) would fail later inside OmegaConf, with a traceback
        _require(value != "???", key, f"unset; pass {key}=<value> on the command line")
        if isinstance(value, str) and "${" in value:
            _select(cfg, key)  # every interpolation resolves, or one line names its key
    for key, rule in RULES.items():
        value = _select(cfg, key)
        if value is _ABSENT:
            if key in DEFAULTS:
                value = DEFAULTS[key]
            elif key == "seed" or key.split(".", 1)[0] in REQUIRED_GROUPS:
                raise ConfigError(f"{key}: missing; add it back, e.g. +{key}=<value>")
            else:
                continue  # a key of another option of the group (model.n_ctx under model=together)
        _require(rule.accepts(value), f"{key}={_shown(value)}", rule.fix())
    for check in dict.fromkeys(related.check for related in RELATED):
        check(cfg)
    _team_prices(cfg)  # team entries and the coordinator group: absent by default, tested in test_teams
    reject_secret_values(cfg)


@dataclass(frozen=True)
class Related:
    """A check that relates several keys; the `example` overrides break it (tests compose them with `entry`)."""

    name: str
    check: Callable[[DictConfig], None]
    example: tuple[str, ...]
    entry: str = "train"


def _heads_divide(cfg: DictConfig) -> None:
    agents = cfg.agents
    for key in ("belief_dim", "entity_dim"):
        _require(
            agents[key] % agents.n_heads == 0,
            f"agents.{key}={agents[key]}",
            f"must be divisible by agents.n_heads={agents.n_heads}",
        )


def _retry_waits(cfg: DictConfig) -> None:
    llm = cfg.llm
    _require(
        llm.retry_initial_wait_s <= llm.retry_max_wait_s,
        f"llm.retry_initial_wait_s={llm.retry_initial_wait_s}",
        f"must not exceed llm.retry_max_wait_s={llm.retry_max_wait_s}",
    )


def _batch_fits_buffer(cfg: DictConfig) -> None:
    learner, bne = cfg.learner, cfg.bne
    held = learner.buffer_size * bne.max_iterations_train * bne.max_rounds
    _require(
        learner.batch_size <= held,
        f"learner.batch_size={learner.batch_size}",
        f"the buffer holds at most {held} transitions (learner.buffer_size x bne.max_iterations_train x "
        f"bne.max_rounds); lower it or raise learner.buffer_size",
    )


def _validation_split(cfg: DictConfig) -> None:
    split = OmegaConf.select(cfg, "eval_split", default="test")
    _require(
        split != "validation" or OmegaConf.select(cfg, "dataset.validation_fraction", default=0) > 0,
        "eval_split=validation",
        "needs a validation split; set dataset.validation_fraction in (0, 1), e.g. 0.2",
    )


def _answer_type_fits_dataset(cfg: DictConfig) -> None:
    name, kind = cfg.dataset.name, OmegaConf.select(cfg, "dataset.answer_type", default=None)
    expected = {"svamp": "numeric", "gsm8k": "numeric", "math": "math"}.get(name)
    _require(
        kind is None or expected is None or kind == expected,
        f"dataset.answer_type={kind}",
        f"use {expected} for dataset.name={name}",
    )


def _metric_of_a_method(cfg: DictConfig) -> None:
    if "eval_methods" in cfg and cfg.get("optimized_metric") is not None:  # null: the run returns no objective
        from econ.eval.report import check_metric

        check_metric(cfg.optimized_metric, list(cfg.eval_methods))


def _team_prices(cfg: DictConfig) -> None:
    from econ.llm.team import team_entries

    entries = [(f"team.executors[{i}]", entry) for i, entry in enumerate(team_entries(cfg) or [])]
    coordinator = OmegaConf.select(cfg, "coordinator", default=None)
    for name, entry in [*entries, *([("coordinator", coordinator)] if coordinator is not None else [])]:
        for key in PRICE_KEYS:
            price = entry.get(key)
            _require(
                price is None or (_is_number(price) and price >= 0),
                f"{name}.{key}={price}",
                "use null (not priced) or a value >= 0",
            )


def _budget_has_source(cfg: DictConfig) -> None:
    budget = OmegaConf.select(cfg, "method.budget", default=None)
    _require(
        budget is None or bool(OmegaConf.select(cfg, "method.budget_source", default=None)),
        f"method.budget={budget}",
        "needs method.budget_source=<results.json of the ECON run to match>",
    )


RELATED: tuple[Related, ...] = (
    Related("heads divide the sizes", _heads_divide, ("agents.belief_dim=30",)),
    Related("heads divide the entity size", _heads_divide, ("agents.entity_dim=250",)),
    Related("retry waits", _retry_waits, ("llm.retry_initial_wait_s=60",)),
    Related("batch fits the buffer", _batch_fits_buffer, ("learner.buffer_size=1", "learner.batch_size=4")),
    Related("validation split carved", _validation_split, ("eval_split=validation",)),
    Related("answer type fits the dataset", _answer_type_fits_dataset, ("dataset.answer_type=math",)),
    Related("metric of an evaluated method", _metric_of_a_method, ("optimized_metric=single/accuracy",)),
    Related("metric known", _metric_of_a_method, ("optimized_metric=econ/nosuch",)),
    Related("budget has a source", _budget_has_source, ("method=self_consistency", "method.budget=calls"), "evaluate"),
)
