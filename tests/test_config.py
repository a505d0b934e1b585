"""Every config composes, and start-up validation rejects bad values with a one-line fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from econ.config.redaction import redacted_container
from econ.config.resolvers import register_resolvers, run_name
from econ.config.validate import validate
from econ.errors import ConfigError

CONF = Path(__file__).resolve().parents[1] / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def _compose(overrides: list[str], name: str = "train"):
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=overrides, return_hydra_config=False)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    cfg = _compose([f"+experiment={experiment}"])
    for section in ("model", "dataset", "agents", "bne", "reward", "learner", "llm"):
        assert section in cfg
    assert cfg.dataset.name in experiment or "dataset" in cfg


def test_command_line_model_wins_over_experiment():
    assert "together" in _compose(["+experiment=svamp"]).model._target_.lower()
    assert "local" in _compose(["+experiment=svamp", "model=local"]).model._target_.lower()


def test_evaluate_config_composes():
    cfg = _compose(["method=econ_no_bne"], name="evaluate")
    assert cfg.method.rounds == 1


def test_default_config_is_valid():
    validate(_compose([]))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("agents.n_agents=0", "agents.n_agents"),
        ("agents.belief_dim=-4", "agents.belief_dim"),
        ("agents.belief_dim=130", "agents.belief_dim"),
        ("agents.temperature_bounds=[2.0,0.1]", "agents.temperature_bounds"),
        ("agents.penalty_bounds=[0.1,1.5]", "agents.penalty_bounds"),
        ("agents.top_p=0", "agents.top_p"),
        ("bne.max_iterations_infer=0", "bne.max_iterations_infer"),
        ("bne.threshold=0", "bne.threshold"),
        ("reward.alpha_init=[0.5,0.5]", "reward.alpha_init"),
        ("learner.batch_size=0", "learner.batch_size"),
        ("learner.gamma=1.5", "learner.gamma"),
        ("dataset.limit=0", "dataset.limit"),
        ("llm.max_concurrency=0", "llm.max_concurrency"),
        ("agents.group_size=0", "agents.group_size"),
        ("eval_split=train", "eval_split"),
        ("eval_split=validation", "eval_split=validation"),
        ("dataset.validation_fraction=abc", "dataset.validation_fraction"),
    ],
)
def test_bad_value_names_key_in_one_line(override, key):
    with pytest.raises(ConfigError) as error:
        validate(_compose([override]))
    message = str(error.value)
    assert message.startswith(key) and "\n" not in message


def test_secret_in_config_is_refused():
    cfg = _compose([])
    with open_dict(cfg):
        cfg.model.api_key = "sk-live-0123456789"
    with pytest.raises(ConfigError, match="environment variable"):
        validate(cfg)


def test_redaction_masks_secret_values(monkeypatch):
    monkeypatch.setenv("TOGETHER_API_KEY", "sentinel-secret-123456")
    cfg = OmegaConf.create(
        {"model": {"base_url": "http://x/sentinel-secret-123456", "api_key_env": "TOGETHER_API_KEY"}}
    )
    text = str(redacted_container(cfg))
    assert "sentinel-secret-123456" not in text and "TOGETHER_API_KEY" in text


def test_run_name_is_stable_and_safe():
    assert run_name("+experiment=svamp,dataset.path=/a/b.jsonl") == run_name(
        "+experiment=svamp,dataset.path=/a/b.jsonl"
    )
    assert "/" not in run_name("dataset.path=/a/b.jsonl")
    assert run_name("") == "defaults"
    assert run_name("x=1", False) != run_name("x=1", True)
