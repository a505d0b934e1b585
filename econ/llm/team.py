"""A team: the coordinator's model and one model per executor, each model built once and shared by its roles.

Which model plays which role, from the config:
- executors: `model` (every executor), or `+team=<name>`: conf/team/<name>.yaml lists `executors`, one
  model config per executor: `{config: <conf/model/ name>, <key>: <value>, ...}` (a bare name is
  `{config: <name>}`). A list shorter than agents.n_agents **cycles** (executor i plays entry
  i mod len), so one team serves a sweep over n_agents; a longer list is refused (entries would go unused).
- coordinator (strategy and every commitment, at every level of the hierarchical tree): `coordinator=<local|
  together|openai_compatible>` (conf/coordinator/, the same options as conf/model/), else `model`,
  the very client the executors use when they are on `model`: the same requests, the same cache keys.

The registry here builds one `LLMClient` per distinct model config (so one backend, one HTTP client per
server and model, one llama.cpp model per GGUF: the local backend also shares a loaded file), each with its own
concurrency limit and retries; all share the run's response cache and usage tracker, which counts every call
under the model's label (`usage.by_model`) and prices it by the config's `price_per_mtok_in/out`.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from econ.errors import ConfigError
from econ.llm.client import PRICE_KEYS, LLMClient, build_llm_client
from econ.llm.reachability import check_backend_reachable
from econ.llm.usage import UsageTracker

log = logging.getLogger(__name__)

MODEL_CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"


@dataclass(frozen=True)
class RoleModel:
    """A role's model config (resolved to plain values) and the config key that names it in messages."""

    key: str  # "model" | "coordinator" | "team.executors[i]"
    cfg: dict[str, Any]

    @property
    def identity(self) -> str:
        """Two roles with the same identity share one client."""
        return json.dumps(self.cfg, sort_keys=True, default=str)


def model_config_names() -> list[str]:
    return sorted(path.stem for path in MODEL_CONF_DIR.glob("*.yaml"))


def _plain(node: Any) -> Any:
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=False)
    return node


def team_entry(entry: Any, key: str) -> dict[str, Any]:
    """One `team.executors` entry as a full model config: conf/model/<config>.yaml with the entry's keys over it."""
    entry = _plain(entry)
    if isinstance(entry, str):
        entry = {"config": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), str):
        raise ConfigError(
            f"{key}={entry}: give a model config by name, e.g. {{config: local}} or "
            "{config: openai_compatible, model: <name>, base_url: <url>}"
        )
    name, overrides = entry["config"], {k: v for k, v in entry.items() if k != "config"}
    path = MODEL_CONF_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"{key}.config={name}: no such model config; choose from {', '.join(model_config_names())}")
    base = OmegaConf.load(path)
    unknown = sorted(set(overrides) - set(base))
    if unknown:
        raise ConfigError(
            f"{key}.{unknown[0]}: not a key of conf/model/{name}.yaml; use one of {', '.join(k for k in base if k != '_target_')}"
        )
    merged = OmegaConf.merge(base, overrides)
    for field in merged:
        if OmegaConf.is_missing(merged, field):
            raise ConfigError(f"{key}.{field} is unset: add {field}: <value> to that entry of the team")
    return OmegaConf.to_container(merged, resolve=True)


def team_entries(cfg: DictConfig) -> list[dict[str, Any]] | None:
    """The models of `team.executors` (None without a team), checked: known configs, at most n_agents entries."""
    team = cfg.get("team")
    if team is None:
        return None
    executors = team.get("executors") if isinstance(team, DictConfig) else None
    if not isinstance(executors, ListConfig) or len(executors) == 0:
        raise ConfigError("team.executors: list one model config per executor, e.g. [{config: local}, ...]")
    n_agents = cfg.agents.n_agents
    if len(executors) > n_agents:
        raise ConfigError(
            f"team.executors lists {len(executors)} models for agents.n_agents={n_agents}; "
            f"set agents.n_agents={len(executors)} or list at most {n_agents} (a shorter list cycles)"
        )
    return [team_entry(entry, f"team.executors[{i}]") for i, entry in enumerate(executors)]


def role_models(cfg: DictConfig) -> tuple[RoleModel, list[RoleModel]]:
    """(the coordinator's model, one per executor) of a run; see the module docstring."""
    default = RoleModel("model", _backend_arguments(_plain(cfg.model)))
    entries = team_entries(cfg)
    n_agents = cfg.agents.n_agents
    if entries is None:
        executors = [default] * n_agents
    else:
        keys = [f"team.executors[{j}]" for j in range(len(entries))]
        models = [RoleModel(key, _backend_arguments(entry, key)) for key, entry in zip(keys, entries)]
        executors = [models[i % len(models)] for i in range(n_agents)]
    coordinator = cfg.get("coordinator")
    if coordinator is None:
        return default, executors
    return RoleModel("coordinator", _backend_arguments(_plain(coordinator), "coordinator")), executors


def _backend_name(model_cfg: dict[str, Any]) -> str:
    from hydra.utils import get_class

    target = str(model_cfg.get("_target_", "?"))
    try:
        return str(getattr(get_class(target), "backend", target.rsplit(".", 1)[-1]))
    except Exception:  # an unimportable target fails, with its own message, when it is built
        return target.rsplit(".", 1)[-1]


def _model_name(model_cfg: dict[str, Any]) -> str:
    if model_cfg.get("model"):
        return str(model_cfg["model"])
    if model_cfg.get("path"):
        return Path(str(model_cfg["path"])).name  # what the local backend reports as its model
    from econ.llm.local import EMBEDDED_GGUF

    return EMBEDDED_GGUF


def model_labels(roles: list[RoleModel]) -> dict[str, str]:
    """identity -> label `backend/model` (as `LLMClient.label`); two distinct configs of one label get `@base_url`."""
    labels: dict[str, str] = {}
    for role in roles:
        if role.identity not in labels:
            labels[role.identity] = f"{_backend_name(role.cfg)}/{_model_name(role.cfg)}"
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    seen: dict[str, int] = {}
    for identity, label in list(labels.items()):
        if counts[label] > 1:
            cfg = json.loads(identity)
            seen[label] = seen.get(label, 0) + 1
            labels[identity] = f"{label}@{cfg.get('base_url') or seen[label]}"
    return labels


def describe_team(cfg: DictConfig) -> dict[str, Any]:
    """The team of a config, as checkpoints, results.json and W&B record it (no model is built)."""
    coordinator, executors = role_models(cfg)
    labels = model_labels([*executors, coordinator])
    team = cfg.get("team")
    return {
        "name": team.get("name") if isinstance(team, DictConfig) else None,
        "coordinator": labels[coordinator.identity],
        "executors": [labels[role.identity] for role in executors],
    }


def team_roles(described: dict[str, Any]) -> str:
    """`coordinator X, executors A+B` (each executor model once, in order) for a team's description."""
    executors = "+".join(dict.fromkeys(described["executors"]))
    return f"coordinator {described['coordinator']}, executors {executors}"


def team_model(described: dict[str, Any]) -> str:
    """The model a run played, from its team's description: the one label when every role shared it,
    otherwise which model played which role (the `model` of results.json and the compare tables)."""
    coordinator, executors = described["coordinator"], described["executors"]
    if described.get("name") is None and set(executors) == {coordinator}:
        return str(coordinator)
    who = f"team {described['name']}" if described.get("name") else "mixed team"
    return f"{who}: {team_roles(described)}"


def is_default_team(cfg: DictConfig) -> bool:
    """No `coordinator=` and no `+team=`: every role on `model`, as before teams existed."""
    return cfg.get("coordinator") is None and cfg.get("team") is None


def team_tags(description: dict[str, Any]) -> list[str]:
    """W&B tags naming a team: its name (if any), the coordinator's model and the executors' models."""
    executors = list(dict.fromkeys(description["executors"]))  # distinct, in order
    tags = [f"coordinator:{description['coordinator']}", f"executors:{'+'.join(executors)}"]
    return ([f"team:{description['name']}"] if description.get("name") else []) + tags


_WARNED: set[str] = set()


def _backend_arguments(model_cfg: dict[str, Any], key: str = "model") -> dict[str, Any]:
    """The config minus keys the backend does not take: keys forced in with `++` for another backend of a
    sweep (`coordinator=openai_compatible,local ++coordinator.model=...`) are dropped, and logged once.

    (A misspelt key cannot get here otherwise: Hydra refuses `coordinator.modle=...` for a key the config lacks.)
    """
    from hydra.utils import get_class

    try:
        parameters = inspect.signature(get_class(str(model_cfg["_target_"]))).parameters
    except Exception:
        return model_cfg
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return model_cfg
    kept = {k: v for k, v in model_cfg.items() if k.startswith("_") or k in parameters or k in PRICE_KEYS}
    for dropped in sorted(set(model_cfg) - set(kept)):
        if f"{key}.{dropped}" not in _WARNED:
            _WARNED.add(f"{key}.{dropped}")
            log.warning("%s.%s is not a setting of %s: ignored", key, dropped, model_cfg["_target_"])
    return kept


class Team:
    """The clients of a run: `coordinator` for strategy and commitments, `executors[i]` for executor i.

    Clients are shared between roles that use the same model; `usage` is the one tracker they all record to.
    """

    def __init__(self, coordinator: LLMClient, executors: list[LLMClient], name: str | None = None):
        if not executors:
            raise ValueError("a team needs at least one executor")
        self.coordinator = coordinator
        self.executors = tuple(executors)
        self.name = name

    @classmethod
    def of(cls, client: LLMClient, n_agents: int = 1) -> Team:
        """Every role on one client (the default team)."""
        return cls(client, [client] * max(n_agents, 1))

    def executor(self, i: int) -> LLMClient:
        """Executor i's client (cycling when a method has more agents than the team)."""
        return self.executors[i % len(self.executors)]

    @property
    def usage(self) -> UsageTracker:
        return self.coordinator.usage

    @property
    def clients(self) -> list[LLMClient]:
        """Each distinct client once: the executors' in order, then the coordinator's."""
        unique: dict[int, LLMClient] = {}
        for client in (*self.executors, self.coordinator):
            unique.setdefault(id(client), client)
        return list(unique.values())

    @property
    def uniform(self) -> bool:
        return len(self.clients) == 1

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "coordinator": self.coordinator.model_label,
            "executors": [client.model_label for client in self.executors],
        }

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()  # a shared cache closes on the first; closing it again is a no-op


def build_team(cfg: DictConfig, usage: UsageTracker | None = None) -> Team:
    """Build each distinct model of the run once and check that its server answers, before any call.

    Errors are one line naming the role's key: a missing API key (`coordinator=together: environment
    variable TOGETHER_API_KEY is not set ...`), an unreachable server (`team.executors[1].base_url=...`).
    """
    from econ.llm.cache import ResponseCache

    coordinator_role, executor_roles = role_models(cfg)
    labels = model_labels([*executor_roles, coordinator_role])
    usage = usage if usage is not None else UsageTracker()
    cache = ResponseCache(cfg.llm.cache_path) if cfg.llm.get("cache", False) else None
    built: dict[str, LLMClient] = {}

    def client_for(role: RoleModel) -> LLMClient:
        if role.identity not in built:
            label = labels[role.identity]
            client = build_llm_client(role.cfg, cfg.llm, usage, key=role.key, cache=cache, model_label=label)
            check_backend_reachable(client.backend, f"{role.key}.base_url")
            usage.set_price(label, role.cfg.get("price_per_mtok_in"), role.cfg.get("price_per_mtok_out"))
            built[role.identity] = client
        return built[role.identity]

    executors = [client_for(role) for role in executor_roles]
    team = cfg.get("team")
    name = team.get("name") if isinstance(team, DictConfig) else None
    return Team(client_for(coordinator_role), executors, name)
