"""Resolvers the Hydra configs use; registered before Hydra composes a config."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from omegaconf import OmegaConf


def run_name(override_dirname: str, resume: Any = True) -> str:
    """A filesystem-safe run-dir name for a set of overrides; unique per launch unless resuming."""
    slug = re.sub(r"[^A-Za-z0-9=,._+-]", "_", override_dirname) or "defaults"
    if len(slug) > 100:
        slug = slug[:80] + "-" + hashlib.sha1(slug.encode()).hexdigest()[:10]
    if str(resume).lower() in ("false", "0", "no"):
        slug += time.strftime("_%Y-%m-%d_%H-%M-%S")
    return slug


def register_resolvers() -> None:
    """Make econ's resolvers available to Hydra before it composes a config."""
    if not OmegaConf.has_resolver("econ_run_name"):
        OmegaConf.register_new_resolver("econ_run_name", run_name)
    if not OmegaConf.has_resolver("econ_together_price"):
        from econ.llm.prices import together_price

        OmegaConf.register_new_resolver("econ_together_price", together_price)
