"""Every key of conf/ is checked, by class: each leaf of every composed group option has a Rule or is FREE_FORM,
and every bad value a Rule implies (wrong type, past each bound, not a choice, null, a broken interpolation)
fails `validate` with one line naming the key and the fix. A new key without a check fails here."""

from __future__ import annotations

import copy
import io
import logging
from contextlib import redirect_stderr
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf, open_dict

from econ.config.validate import DEFAULTS, FREE_FORM, RELATED, RULES, Rule, validate
from econ.devtools.runs import compose_config
from econ.errors import ConfigError
from econ.run.job import EXIT_USER_ERROR, run_or_exit

CONF = Path(__file__).resolve().parents[1] / "conf"
OPTION_GROUPS = ("model", "embedder", "dataset", "logger", "trainer", "agents", "bne", "reward", "learner", "llm")


def _options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


# (entry point, overrides): the default of each entry point and every option of every group, each composed.
BASES = [
    ("train", ()),
    ("evaluate", ()),
    *(
        ("train", (f"{group}={option}",))
        for group in OPTION_GROUPS
        for option in _options(group)
        if option != "default"
    ),
    *(("evaluate", (f"method={option}",)) for option in _options("method")),
    *(("train", (f"+experiment={option}",)) for option in _options("experiment")),
]
BASES = [
    (entry, (*overrides, "model.model=x") if overrides == ("model=openai_compatible",) else overrides)
    for entry, overrides in BASES
]


@cache
def composed(entry: str, overrides: tuple[str, ...]) -> DictConfig:
    return compose_config(list(overrides), name=entry)


@cache
def plain(entry: str, overrides: tuple[str, ...]) -> dict:
    """The composed config resolved to plain values (paths given literally: ${hydra:...} needs a Hydra run),
    so that each of the thousand bad values costs a dict copy and one `validate`."""
    cfg = composed(entry, overrides).copy()
    with open_dict(cfg):
        cfg.paths = {key: f"/tmp/econ-rules/{key}" for key in cfg.paths}
    return OmegaConf.to_container(cfg, resolve=True)


def leaves(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of every leaf; a list is one leaf (its Rule checks the entries)."""
    if isinstance(node, dict):
        return [
            leaf
            for key, value in node.items()
            for leaf in leaves(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
        ]
    return [(prefix, node)]


def config_leaves(cfg: DictConfig) -> list[tuple[str, Any]]:
    return [
        (key, value)
        for key, value in leaves(OmegaConf.to_container(cfg, resolve=False))
        if key != "hydra" and not key.startswith("hydra.")
    ]


def unchecked(cfg: DictConfig) -> list[str]:
    """Leaf keys with neither a Rule nor a FREE_FORM reason."""
    return [key for key, _ in config_leaves(cfg) if key not in RULES and key not in FREE_FORM]


def hparams_search_leaves() -> list[str]:
    """hparams_search/* need the Optuna sweeper plugin to compose; their own keys are read from the file."""
    keys = []
    for path in (CONF / "hparams_search").glob("*.yaml"):
        node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        keys += [key for key, _ in leaves({k: v for k, v in node.items() if k not in ("defaults", "hydra")})]
    return keys


def test_every_key_of_every_group_option_has_a_rule_or_a_reason():
    missing = {key for entry, overrides in BASES for key in unchecked(composed(entry, overrides))}
    missing |= {key for key in hparams_search_leaves() if key not in RULES and key not in FREE_FORM}
    assert not missing, f"keys of conf/ with no Rule in RULES and no reason in FREE_FORM: {sorted(missing)}"


def test_every_rule_and_reason_names_a_key_of_conf():
    present = {key for entry, overrides in BASES for key, _ in config_leaves(composed(entry, overrides))}
    stale = sorted(key for key in (*RULES, *FREE_FORM) if key not in present and key not in DEFAULTS)
    assert not stale, f"RULES / FREE_FORM entries for keys no config has: {stale}"
    assert not set(RULES) & set(FREE_FORM)


def test_a_new_key_without_a_check_is_caught():
    cfg = composed("train", ()).copy()
    with open_dict(cfg):
        cfg.learner.new_knob = 3
    assert unchecked(cfg) == ["learner.new_knob"]


@pytest.mark.parametrize(("entry", "overrides"), BASES, ids=["-".join((e, *o)) for e, o in BASES])
def test_every_shipped_option_is_valid(entry, overrides):
    validate(composed(entry, overrides))


def _cases(key: str) -> list[tuple[str, tuple[str, ...], Any]]:
    """(entry, overrides, bad value) for every base config that has the key, each bad value once per entry point."""
    cases, seen = [], set()
    for entry, overrides in BASES:
        if (
            OmegaConf.select(composed(entry, overrides), key, default="<absent>", throw_on_resolution_failure=False)
            == "<absent>"
        ):
            continue
        for value in RULES[key].bad_values():
            if (entry, repr(value)) not in seen:
                seen.add((entry, repr(value)))
                cases.append((entry, overrides, value))
    return cases


def _with(cfg: DictConfig, key: str, value: Any) -> DictConfig:
    cfg = cfg.copy()
    with open_dict(cfg):
        OmegaConf.update(cfg, key, value, merge=False, force_add=True)
    return cfg


def _plain_with(entry: str, overrides: tuple[str, ...], key: str, value: Any) -> DictConfig:
    """The plain config with key set to value (as `key=value` on the command line would set it)."""
    node = root = copy.deepcopy(plain(entry, overrides))
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return OmegaConf.create(root)


@pytest.mark.parametrize("key", sorted(RULES))
def test_every_bad_value_of_a_key_fails_in_one_line_naming_it(key):
    cases = _cases(key)
    assert cases, f"{key}: no composed config has it"
    wrong = []
    for entry, overrides, value in cases:
        try:
            validate(_plain_with(entry, overrides, key, value))
        except ConfigError as error:
            message = str(error)
            if not message.startswith(key) or "\n" in message or ": " not in message:
                wrong.append((value, message))
        else:
            wrong.append((value, "accepted"))
    assert not wrong, f"{key} ({'/'.join(cases[0][1]) or cases[0][0]}): {wrong}"


@pytest.mark.parametrize("rule", sorted(set(RULES.values()), key=repr), ids=repr)
def test_a_rule_refuses_its_bad_values_and_says_what_to_use(rule: Rule):
    assert not [value for value in rule.bad_values() if rule.accepts(value)]
    assert rule.fix().startswith("use ")
    kinds = {"whole", "number", "bool", "choice", "bounds", "numbers", "names"}
    assert rule.kind in kinds


@pytest.mark.parametrize("related", RELATED, ids=[related.name for related in RELATED])
def test_keys_that_must_agree_fail_in_one_line(related):
    with pytest.raises(ConfigError) as error:
        validate(compose_config(list(related.example), name=related.entry))
    message = str(error.value)
    named = [item.split("=", 1)[0] for item in related.example]
    assert "\n" not in message and any(message.startswith(key) for key in named), message


def test_a_missing_key_of_a_required_group_is_named():
    cfg = composed("train", ()).copy()
    with open_dict(cfg):
        del cfg.agents["n_agents"]
    with pytest.raises(ConfigError, match=r"^agents\.n_agents: missing"):
        validate(cfg)


def test_a_broken_interpolation_in_a_free_form_key_is_named():
    with pytest.raises(ConfigError, match=r"^task_name=\$\{nosuch\}: "):
        validate(_with(composed("train", ()), "task_name", "${nosuch}"))


def test_an_omegaconf_error_after_validation_exits_2_in_one_line(caplog):
    cfg = OmegaConf.create({"a": {"b": "${nosuch}"}})
    stderr = io.StringIO()
    with caplog.at_level(logging.CRITICAL), redirect_stderr(stderr), pytest.raises(SystemExit) as exit_:
        run_or_exit(lambda: cfg.a.b)
    assert exit_.value.code == EXIT_USER_ERROR
    lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: a.b: "), lines
