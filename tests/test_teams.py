"""Heterogeneous teams: a coordinator model apart from the executors', mixed executors, cost per model.

Two loopback servers stand for two models; each counts what it was sent, and the run's usage must agree.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from econ.config.resolvers import register_resolvers
from econ.config.settings import load_settings
from econ.config.validate import validate
from econ.data.datasets import Problem
from econ.devtools.loopback import LoopbackServer
from econ.errors import ConfigError
from econ.eval.report import print_table, print_usage_by_model, summarize
from econ.game.episode import EpisodeRunner, GameSettings
from econ.learner.checkpoint import CHECKPOINT_FORMAT, load_checkpoint
from econ.llm.local import embedded_gguf_path
from econ.llm.team import build_team, describe_team, team_model
from econ.llm.usage import UsageTracker
from econ.methods import Players, build_method, load_method

REPO = Path(__file__).resolve().parents[1]
PROBLEMS = [
    Problem(f"p{i}", f"Tom has {i} apples and buys 3 more. How many apples?", str(i + 3), "svamp") for i in (2, 5)
]
# A default run (no coordinator=, no +team=) of `econ.evaluate method=econ_fixed_action` against a loopback on
# port 47316, recorded with the code of be2548b (main before teams): the sha256 of its 14 chat request bodies
# (canonical JSON, sorted) and of its response-cache keys (sorted). The keys hold the base URL, hence the fixed port.
PINNED_PORT = 47316
PINNED_REQUESTS = "88443db02bb5ecc4dc1ad08d68b4dfe6cd8ea5f664bfb8ca657eacc890066461"
PINNED_CACHE_KEYS = "e6c894347ce499422bd0e12479b84bdad780cdf0f7debad35ee13116c009fa6c"


class HashEmbedder:
    """Deterministic unit vectors from a text's hash (the prompts do not depend on them)."""

    name, dim = "hash", 8

    def encode(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
            rows.append(
                torch.nn.functional.normalize(
                    torch.randn(self.dim, generator=torch.Generator().manual_seed(seed)), dim=0
                )
            )
        return torch.stack(rows)


def config(*overrides: str, name: str = "evaluate"):
    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name=name, overrides=["llm.cache=false", "agents.n_agents=3", *overrides])


def executors_on(server: LoopbackServer, model: str = "model-a") -> list[str]:
    return ["model=openai_compatible", f"model.model={model}", f"model.base_url={server.base_url}"]


def coordinator_on(server: LoopbackServer, model: str = "model-b") -> list[str]:
    return ["coordinator=openai_compatible", f"coordinator.model={model}", f"coordinator.base_url={server.base_url}"]


def team_of(*servers_and_models: tuple[LoopbackServer, str]) -> str:
    entries = ",".join(
        f"{{config:openai_compatible,model:{model},base_url:'{server.base_url}'}}"
        for server, model in servers_and_models
    )
    return f"team.executors=[{entries}]"


def play(cfg, method: str, usage: UsageTracker | None = None):
    """Play PROBLEMS with `method` (conf/method/) on the team `cfg` describes; (results, team)."""
    validate(cfg)
    team = build_team(cfg, usage)
    runner = EpisodeRunner(team, HashEmbedder(), GameSettings.from_config(cfg))
    players = Players(team.coordinator, runner, None, team)
    chosen = build_method(cfg.method) if cfg.method.name == method else load_method(cfg, method)

    async def run():
        try:
            return [await chosen.play(players, problem) for problem in PROBLEMS]
        finally:
            await team.aclose()

    return asyncio.run(run()), team


@pytest.fixture
def two_servers(loopback_factory):
    # distinct fixed token counts, so each server's share of the usage is recognisable
    return loopback_factory(prompt_tokens=11, completion_tokens=5), loopback_factory(
        prompt_tokens=13, completion_tokens=17
    )


def models_sent(server: LoopbackServer) -> set[str]:
    return {body["model"] for body in server.chat_requests()}


def roles_of(results, model: str) -> set[str]:
    return {call.role for result in results for call in result.calls if call.model == model}


# ---------------------------------------------------------------- the default team is today's


def test_default_run_sends_the_requests_and_cache_keys_of_before_teams(tmp_path):
    try:
        server = LoopbackServer(port=PINNED_PORT)
    except OSError:
        pytest.skip(f"port {PINNED_PORT} is taken")
    with server:
        env = {**os.environ, "ECON_CACHE_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        env.pop("OPENAI_API_KEY", None)
        command = [
            "-m", "econ.evaluate", "method=econ_fixed_action", "model=openai_compatible", "model.model=loopback",
            f"model.base_url={server.base_url}", "dataset.limit=2", "agents.n_agents=2", "bne.max_iterations_infer=2",
            "logger=none", f"hydra.run.dir={tmp_path / 'run'}",
        ]  # fmt: skip
        done = subprocess.run(
            [sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-2000:]
        bodies = sorted(json.dumps(body, sort_keys=True) for body in server.chat_requests())
    keys = sorted(key for (key,) in sqlite3.connect(tmp_path / "llm.sqlite").execute("SELECT key FROM completions"))
    assert len(bodies) == 14
    assert hashlib.sha256("\n".join(bodies).encode()).hexdigest() == PINNED_REQUESTS
    assert hashlib.sha256("\n".join(keys).encode()).hexdigest() == PINNED_CACHE_KEYS
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["team"] == {
        "name": None,
        "coordinator": "openai_compatible/loopback",
        "executors": ["openai_compatible/loopback"] * 2,
    }
    assert list(results["usage"]["by_model"]) == ["openai_compatible/loopback"] and results["usage"]["cost_usd"] is None


def test_results_name_the_model_that_played_not_the_config_groups_display_name(tmp_path):
    other = tmp_path / "another-model.gguf"
    other.symlink_to(embedded_gguf_path())  # model=local's display name stays the embedded model's
    env = {**os.environ, "ECON_CACHE_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    command = [
        "-m", "econ.evaluate", "method=single", "model=local", f"model.path={other}", "dataset.limit=1",
        "agents.max_tokens_executor=4", "logger=none", f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    done = subprocess.run([sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["model"] == "local/another-model.gguf" == results["team"]["coordinator"]


def test_a_mixed_teams_model_is_said_to_be_mixed_with_its_models(two_servers):
    a, b = two_servers
    team = build_team(config(*executors_on(a), *coordinator_on(b)))
    assert team_model(team.describe()) == (
        "mixed team: coordinator openai_compatible/model-b, executors openai_compatible/model-a"
    )
    named = {"name": "pair", "coordinator": "x/c", "executors": ["x/a", "x/b", "x/a"]}
    assert team_model(named) == "team pair: coordinator x/c, executors x/a+x/b"


def test_without_coordinator_every_role_shares_one_client(loopback):
    team = build_team(config(*executors_on(loopback)))
    assert team.uniform and team.coordinator is team.executors[0] is team.executors[2]


def test_roles_on_the_same_model_share_one_client_and_the_local_gguf_one_backend(loopback):
    same = build_team(config(*executors_on(loopback, "m"), *coordinator_on(loopback, "m")))
    assert same.uniform  # coordinator=openai_compatible with the executors' model and server: built once
    local = build_team(config("model=local", "coordinator=local"))  # the GGUF loads on the first call, once
    assert local.coordinator.backend is local.executors[1].backend


# ---------------------------------------------------------------- who hits which server


@pytest.mark.parametrize("group_size", [None, 2])
def test_the_coordinator_writes_strategy_and_every_commitment_on_its_own_server(two_servers, group_size):
    executors, coordinator = two_servers
    overrides = [*executors_on(executors), *coordinator_on(coordinator), "bne.max_iterations_infer=2"]
    if group_size:
        overrides.append(f"agents.group_size={group_size}")  # local commitments, then the root
    results, _ = play(config(*overrides), "econ_fixed_action")
    assert models_sent(executors) == {"model-a"} and models_sent(coordinator) == {"model-b"}
    assert roles_of(results, "openai_compatible/model-a") == {"executor"}
    coordinator_roles = {"strategy", "commitment"} | ({"local_commitment"} if group_size else set())
    assert roles_of(results, "openai_compatible/model-b") == coordinator_roles
    executor_calls = sum(call.role == "executor" for r in results for call in r.calls)
    assert len(executors.chat_requests()) == executor_calls == 3 * sum(r.rounds_used for r in results)


def test_a_mixed_team_cycles_its_models_over_the_executors(two_servers):
    a, b = two_servers
    results, team = play(
        config(*executors_on(a), "+team=mixed3", team_of((a, "exec-a"), (b, "exec-b"))), "econ_fixed_action"
    )
    assert [client.model_label for client in team.executors] == [
        "openai_compatible/exec-a", "openai_compatible/exec-b", "openai_compatible/exec-a",
    ]  # fmt: skip
    by_agent = {(call.agent, call.model) for r in results for call in r.calls if call.role == "executor"}
    assert by_agent == {
        (0, "openai_compatible/exec-a"),
        (1, "openai_compatible/exec-b"),
        (2, "openai_compatible/exec-a"),
    }
    assert models_sent(a) == {"exec-a", "model-a"}  # the coordinator stays on `model` (server a, model-a)
    assert models_sent(b) == {"exec-b"}


def test_mad_with_a_mixed_team_is_a_heterogeneous_debate_and_single_uses_the_executors_model(two_servers):
    a, b = two_servers
    overrides = [*executors_on(a), "+team=mixed3", team_of((a, "exec-a"), (b, "exec-b"))]
    results, _ = play(config(*overrides, "method=mad", "method.rounds=2"), "mad")
    debaters = {(call.agent, call.model) for r in results for call in r.calls}
    assert debaters == {
        (0, "openai_compatible/exec-a"),
        (1, "openai_compatible/exec-b"),
        (2, "openai_compatible/exec-a"),
    }
    assert len(b.chat_requests()) == 2 * 2  # debater 1, two rounds, two problems
    single, _ = play(config(*overrides), "single")
    assert {call.model for r in single for call in r.calls} == {"openai_compatible/exec-a"}
    chosen, _ = play(config(*overrides, "method=single", "method.executor=1"), "single")
    assert {call.model for r in chosen for call in r.calls} == {"openai_compatible/exec-b"}


# ---------------------------------------------------------------- usage and cost


def test_usage_per_model_is_what_each_server_counted_and_costs_exactly_its_price(two_servers):
    executors, coordinator = two_servers
    prices = ["model.price_per_mtok_in=0.5", "model.price_per_mtok_out=1.5",
              "coordinator.price_per_mtok_in=2.5", "coordinator.price_per_mtok_out=10"]  # fmt: skip
    usage = UsageTracker()
    results, _ = play(
        config(*executors_on(executors), *coordinator_on(coordinator), *prices), "econ_fixed_action", usage
    )
    snapshot = usage.snapshot()
    expected = 0.0
    for server, label, (price_in, price_out), (p_tok, c_tok) in (
        (executors, "openai_compatible/model-a", (0.5, 1.5), (11, 5)),
        (coordinator, "openai_compatible/model-b", (2.5, 10.0), (13, 17)),
    ):
        entry, n = snapshot["by_model"][label], len(server.chat_requests())
        assert (entry["calls"], entry["prompt_tokens"], entry["completion_tokens"]) == (n, n * p_tok, n * c_tok)
        assert entry["cost_usd"] == (n * p_tok * price_in + n * c_tok * price_out) / 1e6
        expected += entry["cost_usd"]
    assert set(snapshot["by_model"]["openai_compatible/model-a"]["by_role"]) == {"executor"}
    assert set(snapshot["by_model"]["openai_compatible/model-b"]["by_role"]) == {"coordinator"}
    assert snapshot["cost_usd"] == expected
    assert math.isclose(sum(r.cost_usd for r in results), expected, rel_tol=1e-12)
    summary = summarize(results)
    assert math.isclose(summary["cost_usd"], expected, rel_tol=1e-12)


def test_tokens_served_by_the_cache_are_shown_as_such_and_cost_nothing(two_servers, tmp_path):
    executors, coordinator = two_servers
    overrides = [*executors_on(executors), *coordinator_on(coordinator), "llm.cache=true",
                 f"llm.cache_path={tmp_path / 'llm.sqlite'}", "model.price_per_mtok_in=1", "model.price_per_mtok_out=1"]  # fmt: skip
    first, _ = play(config(*overrides), "econ_fixed_action")
    sent = len(executors.chat_requests())
    usage = UsageTracker()
    again, _ = play(config(*overrides), "econ_fixed_action", usage)
    entry = usage.snapshot()["by_model"]["openai_compatible/model-a"]
    assert len(executors.chat_requests()) == sent and entry["calls"] == 0 and entry["cache_hits"] == sent
    assert entry["cached_prompt_tokens"] == 11 * sent and entry["cost_usd"] == 0.0
    assert all(r.cost_usd == 0.0 for r in again) and all(r.cost_usd > 0 for r in first)


def test_the_tables_show_cost_and_usage_by_model(two_servers, capsys):
    from rich.console import Console

    executors, coordinator = two_servers
    usage = UsageTracker()
    overrides = [*executors_on(executors), *coordinator_on(coordinator), "coordinator.price_per_mtok_in=3"]
    results, _ = play(config(*overrides), "econ_fixed_action", usage)
    console = Console(width=250, force_terminal=False)
    print_table({"econ_fixed_action": summarize(results)}, "t", console)
    print_usage_by_model(usage.snapshot(per_problem=False), console)
    out = capsys.readouterr().out
    assert "cost $" in out and "openai_compatible/model-b" in out and "cached tokens" in out
    cost = usage.snapshot()["cost_usd"]
    assert f"${cost:.6f}" in out


def test_together_configs_carry_the_paper_models_prices_and_local_none():
    together = config("model=together").model
    assert (together.price_per_mtok_in, together.price_per_mtok_out) == (0.88, 0.88)
    small = config("model=together", "model.model=meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo").model
    assert small.price_per_mtok_in == 0.18
    assert config("model=together", "model.model=some/unlisted-model").model.price_per_mtok_in is None
    assert config("model=local").model.price_per_mtok_in is None


# ---------------------------------------------------------------- checkpoints


def saved_checkpoint(path: Path, cfg) -> Path:
    settings = load_settings(cfg)
    checkpoint = {
        "state_dict": {},
        "econ_state": {"format": CHECKPOINT_FORMAT},
        "hyper_parameters": {"econ": settings.hparams},
    }
    torch.save(checkpoint, path)
    return path


def test_a_checkpoint_records_its_team_and_refuses_another_unless_allowed(two_servers, tmp_path):
    a, b = two_servers
    trained = config(*executors_on(a), *coordinator_on(b))
    path = saved_checkpoint(tmp_path / "last.ckpt", trained)
    assert torch.load(path, weights_only=False)["hyper_parameters"]["econ"]["team"] == describe_team(trained)
    load_checkpoint(path, load_settings(trained))  # the same team
    other = config(*executors_on(a))
    with pytest.raises(ConfigError) as error:
        load_checkpoint(path, load_settings(other))
    message = str(error.value)
    assert (
        message.startswith("allow_team_change=false:") and "allow_team_change=true" in message and "\n" not in message
    )
    assert "openai_compatible/model-b" in message
    load_checkpoint(path, load_settings(other), allow_team_change=True)


# ---------------------------------------------------------------- validation, one line each


def one_line(fn) -> str:
    with pytest.raises(ConfigError) as error:
        fn()
    assert "\n" not in str(error.value)
    return str(error.value)


def test_an_unknown_team_entry_is_one_line_naming_it(loopback):
    bad = config(*executors_on(loopback), "+team=mixed3", "team.executors=[{config:local},{config:nosuch}]")
    assert one_line(lambda: validate(bad)).startswith("team.executors[1].config=nosuch: no such model config")
    typo = config("+team=mixed3", "team.executors=[{config:local,modle:x}]")
    assert one_line(lambda: validate(typo)).startswith("team.executors[0].modle: not a key of conf/model/local.yaml")
    longer = config("agents.n_agents=2", "+team=mixed3")
    assert one_line(lambda: validate(longer)).startswith("team.executors lists 3 models for agents.n_agents=2")


def test_a_missing_key_for_a_remote_role_is_one_line_naming_the_role(loopback, no_api_keys):
    cfg = config(*executors_on(loopback), "coordinator=together")
    validate(cfg)  # the key is read when the model is built, before any call
    assert one_line(lambda: build_team(cfg)).startswith(
        "coordinator=together: environment variable TOGETHER_API_KEY is not set"
    )


def test_an_unreachable_server_for_either_role_is_one_line_naming_its_key(loopback_factory):
    closed = loopback_factory()
    url = closed.base_url
    closed.close()
    up = loopback_factory()
    coordinator = config(
        *executors_on(up), "coordinator=openai_compatible", "coordinator.model=m", f"coordinator.base_url={url}"
    )
    assert one_line(lambda: build_team(coordinator)).startswith(f"coordinator.base_url={url}: no server answers")
    executor = config(*executors_on(up), "+team=mixed3", team_of((up, "a"), (closed, "b")))
    assert one_line(lambda: build_team(executor)).startswith(f"team.executors[1].base_url={url}: no server answers")
    assert one_line(lambda: build_team(config(*executors_on(closed)))).startswith(f"model.base_url={url}")


def test_prices_and_allow_team_change_are_checked_at_start_up():
    assert one_line(lambda: validate(config("model.price_per_mtok_in=-1"))).startswith("model.price_per_mtok_in=-1")
    assert one_line(lambda: validate(config("allow_team_change=maybe"))).startswith("allow_team_change=maybe")


def test_a_resumed_run_replays_usage_per_model_from_usage_jsonl(tmp_path):
    from econ.run.usage import RunUsageTracker

    first = RunUsageTracker(tmp_path / "usage.jsonl")
    first.record_call("coordinator", "p1", 100, 10, 0.1, "together/big")
    first.record_cache_hit("executor", "p1", 50, 5, "local/small.gguf")
    first.close()
    second = RunUsageTracker(tmp_path / "usage.jsonl")
    second.set_price("together/big", 1.0, 2.0)
    run = second.run_snapshot()
    assert run["by_model"]["together/big"]["calls"] == 1 and run["by_model"]["local/small.gguf"]["cache_hits"] == 1
    assert run["cost_usd"] == (100 * 1.0 + 10 * 2.0) / 1e6 and run["by_model"]["local/small.gguf"]["cost_usd"] is None
    second.close()


def test_compare_tables_show_the_team_and_cost_per_problem(tmp_path):
    from experiments import compare_methods

    summary = {"n": 2, "accuracy": 0.5, "accuracy_ci95": [0.1, 0.9], "parse_rate": 1.0, "llm_calls_per_problem": 4,
               "prompt_tokens": 200, "completion_tokens": 40, "tokens_per_problem": 120, "wall_s": 1.0, "cache_hits": 0,
               "cost_usd": 0.0005, "cost_usd_per_problem": 0.00025}  # fmt: skip
    team = {"name": None, "coordinator": "together/big", "executors": ["together/small"] * 3}
    results = {"methods": {"single": summary}, "dataset": "svamp", "model": "m", "team": team, "config": {}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    row = compare_methods.read_row("single", tmp_path / "results.json", untrained=True)
    compare_methods.add_paired([row])
    compare_methods.write_markdown([row], "note", tmp_path / "compare.md", scaling=None)
    table = (tmp_path / "compare.md").read_text()
    assert "cost $ / problem |" in table and "| $0.000250 |" in table
    assert "Team: coordinator together/big, executors together/small" in table


def test_keys_forced_in_for_another_backend_of_a_sweep_are_ignored_by_the_local_one(loopback):
    cfg = config(
        *executors_on(loopback), "coordinator=local", "++coordinator.model=x", "++coordinator.base_url=http://h/v1"
    )
    team = build_team(cfg)  # the GGUF is not loaded before the first call
    assert type(team.coordinator.backend).__name__ == "LocalLlamaBackend"
    assert describe_team(cfg)["coordinator"] == "local/SmolLM2-135M-Instruct.Q4_1.gguf"
