"""Backend construction from the model configs, and the repetition-penalty mappings."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from econ.errors import ConfigError
from econ.llm import LLMClient, Sampling, build_llm_client
from econ.llm.base import multiplicative_penalty
from econ.llm.local import LocalLlamaBackend
from econ.llm.openai_compatible import OpenAICompatibleBackend, openai_frequency_penalty
from econ.llm.together import normalise_together_base_url

CONF = Path(__file__).resolve().parents[1] / "conf"
GRID = [i / 20 for i in range(21)]


def group(name: str, tmp_path) -> tuple:
    """(model cfg, llm cfg) as the root config would hold them, caches under tmp_path."""
    root = OmegaConf.create(
        {
            "paths": {"cache_dir": str(tmp_path)},
            "model": OmegaConf.load(CONF / "model" / f"{name}.yaml"),
            "llm": OmegaConf.load(CONF / "llm" / "default.yaml"),
        }
    )
    return root.model, root.llm


def test_multiplicative_penalties_never_reward_repetition():
    mapping = multiplicative_penalty  # llama.cpp repeat_penalty and Together repetition_penalty
    values = [mapping(p, 1.3) for p in GRID]
    assert values[0] == 1.0 and values[-1] == pytest.approx(1.3)
    assert all(v >= 1.0 for v in values) and values == sorted(values)
    assert mapping(-0.5, 1.3) == 1.0 and mapping(2.0, 1.3) == pytest.approx(1.3)  # clamped


def test_frequency_penalty_is_never_negative():
    values = [openai_frequency_penalty(p, 0.5) for p in GRID]
    assert values[0] == 0.0 and values[-1] == pytest.approx(0.5)
    assert all(v >= 0.0 for v in values) and values == sorted(values)
    assert openai_frequency_penalty(-1.0) == 0.0


@pytest.mark.parametrize(
    "given, expected",
    [
        (None, None),
        ("https://api.together.xyz", "https://api.together.xyz"),
        ("https://api.together.xyz/v1", "https://api.together.xyz"),
        ("http://h:1/v1/", "http://h:1"),
    ],
)
def test_together_base_url_loses_its_v1(given, expected):
    assert normalise_together_base_url(given) == expected


def test_local_config_builds_a_client_on_the_embedded_model(tmp_path):
    model_cfg, llm_cfg = group("local", tmp_path)
    client = build_llm_client(model_cfg, llm_cfg)
    assert isinstance(client.backend, LocalLlamaBackend) and client.backend.path.endswith(".gguf")
    assert client.cache is not None and client.cache.path == tmp_path / "llm.sqlite"
    assert (client.max_concurrency, client.max_retries, client.retry_max_wait_s) == (4, 6, 30.0)


def test_missing_gguf_is_a_config_error_at_construction(tmp_path):
    model_cfg, llm_cfg = group("local", tmp_path)
    model_cfg.path = str(tmp_path / "nope.gguf")
    with pytest.raises(ConfigError, match=r"model.path=.*nope.gguf: no such GGUF file"):
        build_llm_client(model_cfg, llm_cfg)


def test_together_config_without_key_names_the_variable(tmp_path, no_api_keys):
    model_cfg, llm_cfg = group("together", tmp_path)
    with pytest.raises(ConfigError, match="TOGETHER_API_KEY is not set"):
        build_llm_client(model_cfg, llm_cfg)


def test_together_config_with_key_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("TOGETHER_API_KEY", "tgp_v1_x")
    model_cfg, llm_cfg = group("together", tmp_path)
    llm_cfg.cache = False
    client = build_llm_client(model_cfg, llm_cfg)
    assert client.backend.model == "meta-llama/Llama-3.3-70B-Instruct-Turbo" and client.cache is None


def test_openai_compatible_needs_a_model_name(tmp_path):
    model_cfg, llm_cfg = group("openai_compatible", tmp_path)
    with pytest.raises(ConfigError, match=r"model.model is unset"):
        build_llm_client(model_cfg, llm_cfg)


async def test_openai_compatible_config_talks_to_the_server_without_a_key(tmp_path, loopback, no_api_keys):
    model_cfg, llm_cfg = group("openai_compatible", tmp_path)
    model_cfg.model, model_cfg.base_url = "served-model", loopback.base_url
    client = build_llm_client(model_cfg, llm_cfg)
    assert isinstance(client.backend, OpenAICompatibleBackend) and client.backend.name == "served-model"
    completion = await client.complete([{"role": "user", "content": "hi"}], Sampling(), role="r", problem_id="p")
    await client.aclose()
    assert completion.text and loopback.chat_requests()[0]["model"] == "served-model"
    assert loopback.requests[0].headers["authorization"] == "Bearer not-needed"


def test_bad_client_settings_name_the_key(loopback):
    backend = OpenAICompatibleBackend(model="m", base_url=loopback.base_url)
    with pytest.raises(ConfigError, match="llm.max_concurrency=0"):
        LLMClient(backend, max_concurrency=0)
