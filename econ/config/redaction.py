"""Secrets never reach a run's files: keys are refused in the config and masked in everything written."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from econ.errors import ConfigError

SECRET_KEY_PATTERN = re.compile(r"(api_?key|(^|_)token$|secret|password)", re.IGNORECASE)
SECRET_ENV_VARS = ("TOGETHER_API_KEY", "OPENAI_API_KEY", "WANDB_API_KEY", "HF_TOKEN")
REDACTED = "***"


def walk(node: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{prefix}[{index}]")
    else:
        yield prefix, node


def reject_secret_values(cfg: DictConfig) -> None:
    """Keys come from the environment only: a config value would be saved with the run."""
    plain = OmegaConf.to_container(cfg, resolve=False)
    for path, value in walk(plain):
        name = path.rsplit(".", 1)[-1]
        if SECRET_KEY_PATTERN.search(name) and not name.endswith("_env") and value not in (None, ""):
            raise ConfigError(f"{path}: do not put secrets in the config; export the key as an environment variable")


def _secret_values() -> list[str]:
    # Also any variable named like a secret: a key read through a custom `api_key_env` is masked too.
    names = set(SECRET_ENV_VARS) | {name for name in os.environ if SECRET_KEY_PATTERN.search(name)}
    return [os.environ[name] for name in sorted(names) if len(os.environ.get(name, "")) >= 8]


def redact_text(text: str) -> str:
    """Replace every secret from the environment that appears in text."""
    for secret in _secret_values():
        text = text.replace(secret, REDACTED)
    return text


def redacted_container(cfg: DictConfig) -> dict:
    """The resolved config as plain data with secret-named keys and secret values masked."""
    plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)

    def scrub(node: Any, name: str = "") -> Any:
        if isinstance(node, dict):
            return {key: scrub(value, str(key)) for key, value in node.items()}
        if isinstance(node, list):
            return [scrub(value, name) for value in node]
        if isinstance(node, str):
            if SECRET_KEY_PATTERN.search(name) and not name.endswith("_env"):
                return REDACTED
            return redact_text(node)
        return node

    return scrub(plain)


def save_resolved_config(cfg: DictConfig, run_dir: Path) -> None:
    """Write config_resolved.yaml and scrub Hydra's own copies of any secret."""
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(redacted_container(cfg)), run_dir / "config_resolved.yaml")
    for saved in (run_dir / ".hydra").glob("*.yaml"):
        text = saved.read_text()
        clean = redact_text(text)
        if clean != text:
            saved.write_text(clean)
