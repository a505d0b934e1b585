"""Baselines: what each agent is shown, majority votes, exact equal-budget accounting, cache, entry point."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from econ.config.resolvers import register_resolvers
from econ.data.datasets import Problem
from econ.errors import ConfigError
from econ.eval.report import summarize
from econ.evaluate import evaluate as evaluate_run
from econ.game.episode import EpisodeRunner, GameSettings
from econ.game.policy import BeliefPolicy
from econ.llm.cache import ResponseCache
from econ.llm.client import LLMClient
from econ.llm.openai_compatible import OpenAICompatibleBackend
from econ.methods import Players, build_method
from econ.methods.budget import load_budget, nearest_whole
from econ.nn.belief import BeliefNetwork

REPO = Path(__file__).resolve().parents[1]
PROBLEMS = [
    Problem("t:1", "Tom has 3 apples and buys 4 more. How many apples does he have?", "7", "svamp"),
    Problem("t:2", "A box holds 6 pens. How many pens are in 2 boxes?", "12", "svamp"),
]


class HashEmbedder:
    """Deterministic unit vectors from a text's hash: what ECON's prompts contain does not depend on them."""

    name, dim = "hash", 8

    def encode(self, texts: list[str]) -> torch.Tensor:
        rows = [[b - 128.0 for b in hashlib.sha256(t.encode()).digest()[: self.dim]] for t in texts]
        return torch.nn.functional.normalize(torch.tensor(rows).reshape(len(texts), self.dim), dim=-1)


class NumberedReplies:
    """A responder whose every reply is distinct ("reply 7 ... \\boxed{7}"); JSON when a commitment is asked."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, request: dict) -> str:
        with self.lock:
            self.count += 1
            k = self.count
        if "json" in request["messages"][-1]["content"].lower():
            return json.dumps({"answer": str(k), "justification": "chosen"})
        return f"reply {k}: adding up the numbers gives {k}. \\boxed{{{k}}}"


def evaluate_config(method: str, *overrides: str):
    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="evaluate", overrides=[f"method={method}", *overrides])


def build(method: str, *overrides: str):
    return build_method(evaluate_config(method, *overrides).method)


def client_for(server, cache: ResponseCache | None = None) -> LLMClient:
    return LLMClient(OpenAICompatibleBackend(model="loopback", base_url=server.base_url), cache=cache)


def players_for(server, cache: ResponseCache | None = None) -> Players:
    return Players(client_for(server, cache))


def user_text(messages) -> str:
    return messages[-1]["content"]


async def econ_results_json(server, tmp_path: Path, n_agents: int = 3, k_rounds: int = 2) -> Path:
    """A real ECON evaluation (all k_rounds played) against the server, written as a results.json."""
    settings = GameSettings(
        n_agents=n_agents,
        top_p=0.9,
        max_tokens_strategy=50,
        max_tokens_executor=64,
        max_tokens_commitment=64,
        coordinator_temperature=0.2,
        threshold=0.0,
        max_rounds=1,
        executors_see_commitment=True,
        seed=0,
    )
    belief = BeliefNetwork(n_agents, HashEmbedder.dim, belief_dim=8, entity_dim=8, n_heads=2, n_blocks=1).eval()
    runner = EpisodeRunner(client_for(server), HashEmbedder(), settings)
    results = [(await runner.play(p, "econ", k_rounds, BeliefPolicy(belief)))[0] for p in PROBLEMS]
    path = tmp_path / "econ" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"methods": {"econ": summarize(results)}}))
    return path


async def test_single_makes_one_greedy_call_and_scores_its_box(loopback_factory):
    server = loopback_factory(responder=lambda request: "3 + 4 = 7, so \\boxed{7}")
    result = await build("single").play(players_for(server), PROBLEMS[0])
    assert result.llm_calls == 1 and len(server.chat_requests()) == 1
    assert server.chat_requests()[0]["temperature"] == 0.0
    assert result.final_answer == "7" and result.correct


async def test_self_consistency_returns_the_majority_of_its_samples(loopback_factory):
    votes = iter(["9", "7", "7", "12", "7"])
    lock = threading.Lock()

    def responder(request):
        with lock:
            return f"so \\boxed{{{next(votes)}}}"

    server = loopback_factory(responder=responder)
    result = await build("self_consistency", "method.samples=5").play(players_for(server), PROBLEMS[0])
    assert result.llm_calls == 5 and sorted(result.rounds[0].answers) == ["12", "7", "7", "7", "9"]
    assert result.final_answer == "7" and result.correct
    seeds = {body["seed"] for body in server.chat_requests()}
    assert len(seeds) == 5  # independent samples, not one sample five times


async def test_mad_agents_see_their_own_and_every_other_agents_previous_answer(loopback_factory):
    server = loopback_factory(responder=NumberedReplies())
    result = await build("mad", "method.agents=3", "method.rounds=3").play(players_for(server), PROBLEMS[0])
    assert result.llm_calls == 9 and len(server.chat_requests()) == 9 and result.rounds_used == 3
    sent = {user_text(body["messages"]) for body in server.chat_requests()}
    for r in (1, 2):
        previous = {c.agent: c.text for c in result.calls if c.round == r - 1}
        for call in (c for c in result.calls if c.round == r):
            prompt = user_text(call.messages)
            assert prompt in sent  # the recorded prompt is what the server received
            own, others = prompt.split("The other solvers answered:")
            assert previous[call.agent] in own.split("Your previous answer:")[1]
            for agent, text in previous.items():
                assert (text in others) == (agent != call.agent)
    assert all("Your previous answer" not in user_text(c.messages) for c in result.calls if c.round == 0)


async def test_econ_executors_never_see_another_executors_answer(loopback_factory, tmp_path):
    server = loopback_factory(responder=NumberedReplies())
    settings = GameSettings(
        n_agents=3,
        top_p=0.9,
        max_tokens_strategy=50,
        max_tokens_executor=64,
        max_tokens_commitment=64,
        coordinator_temperature=0.2,
        threshold=0.0,
        max_rounds=1,
        executors_see_commitment=True,
        seed=0,
    )
    belief = BeliefNetwork(3, HashEmbedder.dim, belief_dim=8, entity_dim=8, n_heads=2, n_blocks=1).eval()
    result, _ = await EpisodeRunner(client_for(server), HashEmbedder(), settings).play(
        PROBLEMS[0], "econ", 2, BeliefPolicy(belief)
    )
    sent = [user_text(body["messages"]) for body in server.chat_requests()]
    executor_texts = {(c.round, c.agent): c.text for c in result.calls if c.role == "executor"}
    assert len(executor_texts) == 6
    for call in (c for c in result.calls if c.role == "executor"):
        prompt = user_text(call.messages)
        assert prompt in sent
        for (r, agent), text in executor_texts.items():
            assert (text in prompt) == (r == call.round - 1 and agent == call.agent)  # only its own last answer
    commitment = next(user_text(c.messages) for c in result.calls if c.role == "commitment" and c.round == 0)
    assert all(executor_texts[(0, i)] in commitment for i in range(3))  # the coordinator does see them all


async def test_calls_budget_is_matched_exactly(loopback_factory, tmp_path):
    server = loopback_factory(responder=NumberedReplies())
    source = await econ_results_json(server, tmp_path)  # N=3, 2 rounds: 1 strategy + 2 x (3 + 1) = 9 calls
    target = json.loads(source.read_text())["methods"]["econ"]["llm_calls_per_problem"]
    assert target == 9
    budget = ["method.budget=calls", f"method.budget_source={source}"]
    for method, extra in (("self_consistency", []), ("mad", ["method.agents=3"])):
        baseline = build(method, *budget, *extra)
        before = len(server.chat_requests())
        results = [await baseline.play(players_for(server), p) for p in PROBLEMS]
        assert [r.llm_calls for r in results] == [9, 9]
        assert len(server.chat_requests()) - before == 18
    assert build("mad", *budget, "method.agents=3").settings()["budget"]["matched_per_problem"].startswith("9 calls")


async def test_calls_budget_takes_the_nearest_feasible_debate_when_not_divisible(loopback_factory, tmp_path):
    server = loopback_factory(responder=NumberedReplies())
    source = await econ_results_json(server, tmp_path)  # 9 calls per problem
    mad = build("mad", "method.budget=calls", f"method.budget_source={source}", "method.agents=4")
    assert mad.rounds == 2  # 9 / 4 = 2.25 -> 2 rounds, 8 calls: the nearest multiple of 4
    assert mad.settings()["budget"]["matched_per_problem"] == "8 calls (4 agents x 2 rounds)"
    result = await mad.play(players_for(server), PROBLEMS[0])
    assert result.llm_calls == 8
    assert nearest_whole(4.5) == 5 and nearest_whole(0.2) == 1


def write_summary(path: Path, **numbers) -> Path:
    path.write_text(json.dumps({"methods": {"econ": {"n": 2, "llm_calls_per_problem": 9.0, **numbers}}}))
    return path


async def test_token_budget_stops_at_the_first_sample_that_reaches_it(loopback_factory, tmp_path):
    server = loopback_factory(completion_tokens=30)  # every reply costs 30 completion tokens
    source = write_summary(tmp_path / "results.json", completion_tokens=200)  # 100 per problem
    budget = ["method.budget=completion_tokens", f"method.budget_source={source}"]
    sc = await build("self_consistency", *budget).play(players_for(server), PROBLEMS[0])
    assert sc.llm_calls == 4 and sc.completion_tokens == 120  # 90 < 100 <= 120
    mad = await build("mad", *budget, "method.agents=3").play(players_for(server), PROBLEMS[0])
    assert mad.rounds_used == 2 and mad.completion_tokens == 180  # a round of 3 costs 90: never cut short


async def test_rerun_is_served_from_the_cache_with_the_same_accounting(loopback_factory, tmp_path):
    server = loopback_factory(responder=NumberedReplies())
    cache = ResponseCache(tmp_path / "cache.sqlite")
    mad = build("mad", "method.agents=3", "method.rounds=2")
    first = await mad.play(players_for(server, cache), PROBLEMS[1])
    second = await mad.play(players_for(server, cache), PROBLEMS[1])
    assert len(server.chat_requests()) == 6 and second.cache_hits == 6 and first.cache_hits == 0
    assert (second.llm_calls, second.prompt_tokens, second.completion_tokens, second.final_answer) == (
        first.llm_calls,
        first.prompt_tokens,
        first.completion_tokens,
        first.final_answer,
    )


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["method.budget=tokens"], "method.budget=tokens"),
        (["method.budget=calls"], "method.budget_source"),
        (["method.budget=calls", "method.budget_source=/no/such/results.json"], "method.budget_source="),
        (["method.samples=0"], "method.samples=0"),
        (["method.temperature=-1"], "method.temperature=-1"),
    ],
)
def test_bad_baseline_settings_fail_in_one_line_naming_the_key(overrides, key):
    with pytest.raises(ConfigError) as error:
        build("self_consistency", *overrides)
    assert str(error.value).startswith(key) and "\n" not in str(error.value)


def test_budget_names_the_methods_a_results_json_holds(tmp_path):
    source = write_summary(tmp_path / "results.json", completion_tokens=10)
    with pytest.raises(ConfigError, match=r"method.budget_method=mad: .* holds \['econ'\]"):
        load_budget("calls", str(source), "mad")
    assert load_budget(None, None, "econ") is None
    assert load_budget("completion_tokens", str(source), "econ").target == 5


def test_evaluate_refuses_bad_input_before_loading_anything():
    # start() needs a Hydra run: reaching it would raise something else than these one-line errors
    with pytest.raises(ConfigError, match="^ckpt_path: give the checkpoint"):
        evaluate_run(evaluate_config("econ"))
    with pytest.raises(ConfigError, match="^method.budget_source=/no/such.json: no such file"):
        evaluate_run(evaluate_config("mad", "method.budget=calls", "method.budget_source=/no/such.json"))


def test_evaluate_runs_a_baseline_without_a_checkpoint(loopback, tmp_path):
    overrides = [
        "method=mad",
        "method.rounds=2",
        "agents.n_agents=2",
        "model=openai_compatible",
        f"model.base_url={loopback.base_url}",
        "model.model=loopback",
        "dataset.limit=2",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    env = {**os.environ, "ECON_CACHE_DIR": str(tmp_path / "cache"), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "econ.evaluate", *overrides],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["methods"]["mad"]["n"] == 2 and results["methods"]["mad"]["llm_calls_per_problem"] == 4
    assert results["baseline"] == {
        "method": "mad",
        "agents": 2,
        "rounds": 2,
        "temperature": 0.7,
        "penalty": 0.1,
        "budget": None,
    }
    assert len(loopback.chat_requests()) == 8
