"""Evaluation methods: ECON (econ, econ_no_bne, econ_fixed_action) and the baselines (single, self_consistency, mad).

Every method is built from its `conf/method/<name>.yaml` by `_target_` and follows one protocol
(`Method`): `play` one problem with the `Players` of a run, `describe` its settings for results.json,
`tag` what decides its results (logged results are reused on resume only under the same tag), and say
whether it `needs_checkpoint` (plays the trained policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from omegaconf import DictConfig, OmegaConf, open_dict

from econ.errors import ConfigError

if TYPE_CHECKING:
    from econ.data.datasets import Problem
    from econ.game.episode import EpisodeRunner
    from econ.game.records import EpisodeResult
    from econ.learner.module import ECONModule
    from econ.llm.client import LLMClient
    from econ.llm.team import Team

METHOD_CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "method"


@dataclass(frozen=True)
class Players:
    """What a method plays with: the run's LLM client(s), ECON's game and, for learned methods, the learner.

    `client` is the coordinator's (everyone's without a team); `executor(i)` is executor i's model, the one
    a baseline's agent i answers with, so baselines and ECON compare at equal models.
    """

    client: LLMClient
    runner: EpisodeRunner | None = None  # ECON methods only
    learner: ECONModule | None = None  # methods that need a checkpoint only
    team: Team | None = None  # None: every role on `client`

    def executor(self, i: int) -> LLMClient:
        return self.team.executor(i) if self.team is not None else self.client


class Method(Protocol):
    """One way of answering a problem; see the module docstring."""

    name: str
    needs_checkpoint: bool

    def describe(self) -> dict[str, Any]:
        """What results.json records about this method's settings (merged into its top level)."""
        ...

    def tag(self, players: Players) -> str:
        """A fingerprint of everything that decides this method's results (policy, prompts, settings)."""
        ...

    async def play(self, players: Players, problem: Problem) -> EpisodeResult: ...


def build_method(method_cfg: DictConfig) -> Method:
    """The method a `method` config node describes; its settings (and budget) are checked here, before any model."""
    from econ.llm.client import instantiate_config

    if "_target_" not in method_cfg:
        raise ConfigError(f"method={method_cfg.get('name')}: no _target_; a method config names its class")
    return instantiate_config(method_cfg)


def method_names() -> list[str]:
    """The methods in conf/method/."""
    return sorted(path.stem for path in METHOD_CONF_DIR.glob("*.yaml"))


def load_method(cfg: DictConfig, name: str, key: str = "eval_methods") -> Method:
    """The method of conf/method/<name>.yaml, its interpolations resolved against this run's config."""
    path = METHOD_CONF_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"{key}: unknown method {name!r}; choose from {', '.join(method_names())}")
    run_cfg = cfg.copy()  # keeps the parent links that resolve ${agents.n_agents} and friends
    with open_dict(run_cfg):
        run_cfg.method = OmegaConf.load(path)
    return build_method(run_cfg.method)
