"""Tokens per problem vs N for ECON and MAD, measured with their real prompts against the loopback server.

The server answers like a model that writes a full solution: about `SOLUTION_WORDS` words of reasoning
ending in a box (capped by the request's max_tokens), a short JSON object to a commitment request and a
plan to a strategy request; tokens are counted as words. Both methods play exactly `rounds` rounds
(ECON's early stop at a fixed point is switched off), so the comparison is per full round.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from pathlib import Path

import torch
from omegaconf import DictConfig

from econ.data.datasets import Problem
from econ.devtools.loopback import LoopbackServer
from econ.embed.base import Embedder
from econ.game.episode import EpisodeRunner, GameSettings
from econ.game.policy import BeliefPolicy
from econ.llm.client import LLMClient
from econ.llm.openai_compatible import OpenAICompatibleBackend
from econ.methods import Players
from econ.methods.mad import Debate
from econ.nn.belief import BeliefNetwork

SOLUTION_WORDS = 150
STRATEGY_WORDS = 40
_FILLER = (
    "we read the quantities in the problem and combine them one step at a time checking each "
    "intermediate result against the question before moving on to the next step"
).split()


def realistic_responder(request: dict) -> str:
    """Text as long as a real reply: a boxed solution, a JSON commitment or a strategy, varied by the seed."""
    last = str((request.get("messages") or [{}])[-1].get("content", ""))
    digest = hashlib.sha256(json.dumps([request.get("seed"), last]).encode()).digest()
    value = 1 + digest[0] % 50  # different agents give different answers, as in a real debate
    if "json" in last.lower():
        return json.dumps({"answer": str(value), "justification": "Most solvers reached this value by the same steps."})
    words = STRATEGY_WORDS if "write a short strategy" in last.lower() else SOLUTION_WORDS
    words = min(words, int(request.get("max_tokens") or words)) - 2  # room for the closing "So \boxed{v}"
    text = " ".join(_FILLER[(i + digest[1]) % len(_FILLER)] for i in range(max(words, 0)))
    return f"{text} So \\boxed{{{value}}}"


def loopback_client(server: LoopbackServer) -> LLMClient:
    """A client with no cache, so every call is really sent and counted."""
    return LLMClient(
        OpenAICompatibleBackend(model="loopback", base_url=server.base_url), cache=None, max_concurrency=16
    )


async def _tokens(play, problems: list[Problem]) -> dict[str, float]:
    results = [await play(problem) for problem in problems]
    n = len(results)
    return {
        "prompt_tokens": sum(r.prompt_tokens for r in results) / n,
        "completion_tokens": sum(r.completion_tokens for r in results) / n,
        "llm_calls": sum(r.llm_calls for r in results) / n,
        "rounds": sum(r.rounds_used for r in results) / n,
        # the prompts of the last round alone: where reading the others' answers costs MAD O(N²·L)
        "last_round_prompt_tokens": sum(_last_round_prompt(r) for r in results) / n,
        # executors' (or debaters') tokens alone; the rest is the coordinator's
        "executor_prompt_tokens": sum(c.prompt_tokens for r in results for c in r.calls if c.role == "executor") / n,
        "executor_completion_tokens": sum(c.completion_tokens for r in results for c in r.calls if c.role == "executor")
        / n,
    }


def _last_round_prompt(result) -> int:
    last = result.rounds_used - 1
    return sum(c.prompt_tokens for c in result.calls if c.round == last and c.role != "strategy")


async def measure_n(
    cfg: DictConfig, n: int, rounds: int, problems: list[Problem], client: LLMClient, embedder: Embedder
) -> dict[str, dict[str, float]]:
    """Mean tokens per problem of ECON (untrained beliefs, `rounds` BNE rounds) and MAD (`rounds` rounds) at N = n."""
    agents = cfg.agents
    torch.manual_seed(cfg.seed)
    belief = BeliefNetwork.untrained(agents, n, embedder.dim)
    settings = dataclasses.replace(GameSettings.from_config(cfg), n_agents=n, threshold=0.0, max_rounds=1)
    runner = EpisodeRunner(client, embedder, settings)
    mad = Debate(
        f"mad_n{n}",
        n,
        rounds,
        cfg.method.temperature,
        cfg.method.penalty,
        agents.top_p,
        agents.max_tokens_executor,
        cfg.seed,
    )

    async def play_econ(problem: Problem):
        result, _ = await runner.play(problem, f"econ_n{n}", rounds, BeliefPolicy(belief))
        return result

    return {
        "econ": await _tokens(play_econ, problems),
        "mad": await _tokens(lambda problem: mad.play(Players(client), problem), problems),
    }


def measure(cfg: DictConfig, ns: list[int], rounds: int, problems: list[Problem], embedder: Embedder) -> list[dict]:
    """One row per (N, method): tokens per problem, calls and rounds, from a fresh loopback server."""
    rows = []
    with LoopbackServer(responder=realistic_responder) as server:
        client = loopback_client(server)
        loop = asyncio.new_event_loop()
        try:
            for n in ns:
                measured = loop.run_until_complete(measure_n(cfg, n, rounds, problems, client, embedder))
                for method, numbers in measured.items():
                    total = numbers["prompt_tokens"] + numbers["completion_tokens"]
                    rows.append(
                        {"n_agents": n, "method": method, "rounds": rounds, **numbers, "tokens_per_problem": total}
                    )
        finally:
            loop.run_until_complete(client.aclose())
            loop.close()
    return rows


def ratio_at(rows: list[dict], n: int, key: str = "tokens_per_problem", over: str | None = None) -> float:
    """ECON's `key` (default: tokens per problem) over MAD's `over` (default: the same key) at N = n."""
    found = {row["method"]: row for row in rows if row["n_agents"] == n}
    if not {"econ", "mad"} <= set(found):
        raise ValueError(f"no ECON and MAD rows at N = {n}; measured N: {sorted({row['n_agents'] for row in rows})}")
    return found["econ"][key] / found["mad"][over or key]


def plot(rows: list[dict], path: Path) -> None:
    """Tokens per problem vs N, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method in ("econ", "mad"):
        points = sorted((row["n_agents"], row["tokens_per_problem"]) for row in rows if row["method"] == method)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=method)
    ax.set_xlabel("agents N")
    ax.set_ylabel("tokens per problem (prompt + completion)")
    ax.set_title(f"Tokens per problem vs N, {rows[0]['rounds']:g} rounds (loopback, real prompts)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
