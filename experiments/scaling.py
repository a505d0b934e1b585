"""Flat vs hierarchical ECON for N = 4..64: prompt size per call, tokens, calls, critical path, wall time, accuracy.

    python experiments/scaling.py --out outputs/scaling --skip-local          # loopback only, about a minute
    python experiments/scaling.py --local-problems 5 agents.max_tokens_executor=128   # + embedded model, N <= 16

Loopback part: every N and both games play the same SVAMP test problems, with their real prompts, against
a loopback OpenAI-compatible server that answers like a model writing full solutions (experiments/
token_scaling.py's responder: ~150-word answers, JSON commitments) after a fixed latency per call; tokens
are its word counts. Local part (N <= --local-max-n): the same on the embedded SmolLM2-135M model, for
accuracy and real token counts. Both use an untrained belief network (seeded) and play every one of
--rounds BNE rounds (no early stop), so the games differ only in how they coordinate.
Critical-path depth is the number of sequential LLM-call layers per problem, read from the traces:
1 (strategies) + per round 1 (executors) + the commitment levels (1 flat; local, merges, global in the tree).
The bound column is f(g, L): the longest prompt any call can get when every strategy, answer and commitment
is at its max_tokens (econ.game.hierarchy.worst_case_prompts; g = N for the flat game), in loopback tokens
(words). The script fails if a hierarchical loopback call's prompt ever exceeds it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import json
import logging
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python experiments/scaling.py` from a checkout, installed or not

from econ.data.datasets import Problem  # noqa: E402
from econ.devtools.loopback import word_count  # noqa: E402
from econ.embed.base import Embedder  # noqa: E402
from econ.errors import ConfigError, EconError  # noqa: E402
from econ.eval.report import summarize  # noqa: E402
from econ.game.episode import EpisodeRunner, GameSettings  # noqa: E402
from econ.game.policy import BeliefPolicy  # noqa: E402
from econ.game.records import EpisodeResult  # noqa: E402
from econ.game.tree import worst_case_prompts  # noqa: E402
from econ.llm.client import LLMClient  # noqa: E402
from econ.nn.belief import BeliefNetwork  # noqa: E402
from econ.run.job import run_or_exit  # noqa: E402

log = logging.getLogger("scaling")

MODES = ("flat", "hierarchical")
COLUMNS = (
    "part",
    "n_agents",
    "mode",
    "groups",
    "problems",
    "max_prompt_tokens",
    "prompt_bound",
    "tokens_per_problem",
    "llm_calls_per_problem",
    "depth",
    "wall_s_per_problem",
    "accuracy",
    "commitment_json_rate",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/scaling"), help="where the table and plots go")
    parser.add_argument("--ns", default="4,8,16,32,64", help="comma-separated numbers of executors N")
    parser.add_argument("--group-size", type=int, default=4, help="g: executors per local coordinator")
    parser.add_argument("--rounds", type=int, default=2, help="BNE rounds per problem, all played")
    parser.add_argument("--problems", type=int, default=2, help="SVAMP test problems per N in the loopback part")
    parser.add_argument("--latency", type=float, default=0.1, help="loopback seconds per call")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="LLM calls in flight (the loopback server drops connections in bursts above ~32)",
    )
    parser.add_argument("--skip-local", action="store_true", help="skip the embedded-model part")
    parser.add_argument("--local-problems", type=int, default=3, help="problems per N on the embedded model")
    parser.add_argument("--local-max-n", type=int, default=16, help="largest N run on the embedded model")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. agents.max_tokens_executor=128")
    args = parser.parse_args(argv)
    try:
        args.ns = sorted({int(n) for n in args.ns.split(",") if n.strip()})
    except ValueError:
        raise ConfigError(f"--ns={args.ns}: give whole numbers separated by commas, e.g. 4,8,16") from None
    for name in ("group_size", "rounds", "problems", "concurrency", "local_problems"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')}={getattr(args, name)}: use a whole number >= 1")
    if not args.ns or args.ns[0] < 1:
        raise ConfigError(f"--ns={args.ns}: every N must be >= 1")
    return args


def game_config(overrides: list[str]):
    """The train config with the embedded model, SVAMP, and the caller's overrides."""
    from hydra import compose, initialize_config_dir

    from econ.config.resolvers import register_resolvers
    from econ.config.validate import validate

    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["model=local", "dataset=svamp", f"paths.root_dir={REPO}", *overrides])
    validate(cfg)
    return cfg


def critical_path_depth(result: EpisodeResult) -> int:
    """Sequential LLM-call layers: strategies, then per round the executors and each commitment level."""
    return 1 + sum(1 + len(record.commitment_levels or [[record.commitment]]) for record in result.rounds)


async def play(
    cfg,
    client: LLMClient,
    embedder: Embedder,
    problems: list[Problem],
    n: int,
    group_size: int | None,
    rounds: int,
    label: str,
) -> list[EpisodeResult]:
    """Play every problem in turn with N executors, flat (group_size None) or in groups."""
    agents = cfg.agents
    torch.manual_seed(cfg.seed)
    belief = BeliefNetwork.untrained(agents, n, embedder.dim)
    settings = dataclasses.replace(
        GameSettings.from_config(cfg), n_agents=n, group_size=group_size, threshold=0.0, max_rounds=1
    )
    runner = EpisodeRunner(client, embedder, settings)
    results = []
    for problem in problems:
        result, _ = await runner.play(problem, label, rounds, BeliefPolicy(belief))
        results.append(result)
    return results


def prompt_bound(cfg, problems: list[Problem], group_size: int) -> int:
    """f(g, L) in words over these problems: no call's prompt can be longer (see worst_case_prompts)."""
    agents = cfg.agents
    return max(
        word_count(" ".join(message["content"] for message in messages))
        for problem in problems
        for messages in worst_case_prompts(
            problem.question,
            group_size,
            agents.max_tokens_strategy,
            agents.max_tokens_executor,
            agents.max_tokens_commitment,
        )
    )


def row(part: str, n: int, mode: str, results: list[EpisodeResult], bound: int | None) -> dict:
    """One table row: means per problem, and the longest prompt any call of any problem got."""
    summary = summarize(results)
    per = len(results)
    return {
        "part": part,
        "n_agents": n,
        "mode": mode,
        "groups": len(set(results[0].rounds[0].groups or [0])),
        "problems": per,
        "max_prompt_tokens": max(call.prompt_tokens for r in results for call in r.calls),
        "prompt_bound": bound,
        "tokens_per_problem": summary["tokens_per_problem"],
        "llm_calls_per_problem": summary["llm_calls_per_problem"],
        "depth": sum(critical_path_depth(r) for r in results) / per,
        "wall_s_per_problem": summary["wall_s"] / per,
        "accuracy": summary["accuracy"] if part == "local" else None,
        "commitment_json_rate": summary["commitment_json_rate"],
    }


def measure(
    part: str,
    cfg,
    client: LLMClient,
    embedder: Embedder,
    problems: list[Problem],
    ns: list[int],
    group_size: int,
    rounds: int,
) -> list[dict]:
    """Rows for every N and both games, played on one event loop."""
    from rich.progress import track

    rows = []
    loop = asyncio.new_event_loop()
    try:
        jobs = [(n, mode) for n in ns for mode in MODES]
        for n, mode in track(jobs, description=f"{part}: N x game"):
            grouped = mode == "hierarchical" and group_size < n
            results = loop.run_until_complete(
                play(
                    cfg,
                    client,
                    embedder,
                    problems,
                    n,
                    group_size if grouped else None,
                    rounds,
                    f"scaling_{part}_{mode}_n{n}",
                )
            )
            # the bound counts words, which are the loopback's tokens but not a real model's
            bound = prompt_bound(cfg, problems, group_size if grouped else n) if part == "loopback" else None
            rows.append(row(part, n, mode, results, bound))
            log.info(
                "%s N=%d %s: max prompt %d tokens, %.0f tokens/problem",
                part,
                n,
                mode,
                rows[-1]["max_prompt_tokens"],
                rows[-1]["tokens_per_problem"],
            )
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    return rows


def loopback_rows(args: argparse.Namespace, cfg, problems: list[Problem], embedder: Embedder) -> list[dict]:
    from econ.devtools.loopback import LoopbackServer
    from econ.llm.openai_compatible import OpenAICompatibleBackend
    from experiments.token_scaling import realistic_responder

    with LoopbackServer(responder=realistic_responder, latency_s=args.latency) as server:
        client = LLMClient(
            OpenAICompatibleBackend(model="loopback", base_url=server.base_url),
            cache=None,
            max_concurrency=args.concurrency,
        )
        return measure(
            "loopback", cfg, client, embedder, problems[: args.problems], args.ns, args.group_size, args.rounds
        )


def local_rows(args: argparse.Namespace, cfg, problems: list[Problem], embedder: Embedder) -> list[dict]:
    from econ.llm.client import build_llm_client

    ns = [n for n in args.ns if n <= args.local_max_n]
    client = build_llm_client(cfg.model, cfg.llm)  # cached: a re-run costs no calls
    return measure("local", cfg, client, embedder, problems[: args.local_problems], ns, args.group_size, args.rounds)


def check_prompt_bound(rows: list[dict]) -> None:
    """Every hierarchical call's prompt on the loopback server (tokens = words) is within f(g, L)."""
    for r in rows:
        if r["part"] == "loopback" and r["mode"] == "hierarchical" and r["max_prompt_tokens"] > r["prompt_bound"]:
            raise EconError(
                f"N={r['n_agents']}: a hierarchical prompt has {r['max_prompt_tokens']} tokens, "
                f"above the bound f(g, L) = {r['prompt_bound']}"
            )


def write_table(rows: list[dict], out: Path, args: argparse.Namespace) -> str:
    """scaling.csv and scaling.md; returns the markdown."""
    with (out / "scaling.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "scaling.json").write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2)
    )
    header = (
        "| part | N | game | groups | max prompt tokens/call | bound f(g, L) | tokens/problem "
        "| LLM calls/problem | critical-path depth | wall s/problem | accuracy | JSON rate |"
    )
    lines = [header, "|" + "---|" * 12]
    for r in rows:
        accuracy = "" if r["accuracy"] is None else f"{r['accuracy']:.0%} (n={r['problems']})"
        lines.append(
            f"| {r['part']} | {r['n_agents']} | {r['mode']} | {r['groups']} | {r['max_prompt_tokens']} "
            f"| {'' if r['prompt_bound'] is None else r['prompt_bound']} "
            f"| {r['tokens_per_problem']:.0f} | {r['llm_calls_per_problem']:.1f} | {r['depth']:.0f} "
            f"| {r['wall_s_per_problem']:.2f} | {accuracy} | {r['commitment_json_rate']:.0%} |"
        )
    text = (
        f"g = {args.group_size}, {args.rounds} rounds, loopback latency {args.latency}s per call, "
        f"{args.concurrency} calls in flight\n\n" + "\n".join(lines) + "\n"
    )
    (out / "scaling.md").write_text(text)
    return text


def plot(rows: list[dict], path: Path) -> None:
    """One panel per metric vs N (log2 axis), a line per (part, game)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("max_prompt_tokens", "max prompt tokens per call"),
        ("tokens_per_problem", "tokens per problem"),
        ("llm_calls_per_problem", "LLM calls per problem"),
        ("depth", "critical-path depth (calls)"),
        ("wall_s_per_problem", "wall s per problem"),
        ("accuracy", "accuracy (embedded model)"),
    ]
    colours = {
        ("loopback", "flat"): "tab:blue",
        ("loopback", "hierarchical"): "tab:orange",
        ("local", "flat"): "tab:green",
        ("local", "hierarchical"): "tab:red",
    }
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    for ax, (key, title) in zip(axes.flat, panels):
        for part in ("loopback", "local"):
            for mode in MODES:
                points = sorted(
                    (r["n_agents"], r[key])
                    for r in rows
                    if r["part"] == part and r["mode"] == mode and r[key] is not None
                )
                if points:
                    ax.plot(
                        [p[0] for p in points],
                        [p[1] for p in points],
                        marker="o",
                        color=colours[part, mode],
                        linestyle="-" if mode == "hierarchical" else "--",
                        label=f"{mode} ({part})",
                    )
        if key == "max_prompt_tokens":
            bound = sorted(
                (r["n_agents"], r["prompt_bound"])
                for r in rows
                if r["part"] == "loopback" and r["mode"] == "hierarchical"
            )
            ax.plot(
                [p[0] for p in bound],
                [p[1] for p in bound],
                color="grey",
                linestyle=":",
                label="hierarchical bound f(g, L) (loopback)",
            )
        ax.set_xscale("log", base=2)
        if key == "wall_s_per_problem":
            ax.set_yscale("log")  # loopback and embedded-model seconds differ by orders of magnitude
        ax.set_xlabel("executors N")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not measured (--skip-local)", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s][%(name)s] %(message)s")
    log.setLevel(logging.INFO)  # our progress, not every HTTP request
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cfg = game_config(args.overrides)

    from econ.data.datasets import load_splits
    from econ.embed import CachedEmbedder
    from econ.embed.local import LocalEmbedder

    problems = load_splits(cfg.dataset, cfg.seed).test
    embedder = CachedEmbedder(LocalEmbedder())
    rows = loopback_rows(args, cfg, problems, embedder)
    if not args.skip_local:
        rows += local_rows(args, cfg, problems, embedder)
    check_prompt_bound(rows)
    print(write_table(rows, out, args))
    plot(rows, out / "scaling.png")
    log.info("table and plot in %s", out)


if __name__ == "__main__":
    run_or_exit(main)
