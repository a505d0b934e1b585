"""One command, one table: single, self-consistency, MAD and ECON on the same test problems, at equal budget.

    python experiments/compare_methods.py --out outputs/compare --limit 100 --n-agents 3 model=local

Each method is a real run of `python -m econ.evaluate` into <out>/runs/<method> (ECON without --ckpt:
`python -m econ.train learner.max_episodes=0`, labelled "untrained policy"). Self-consistency and MAD get
the ECON run's LLM calls (or completion tokens) per problem. compare.md, compare.csv and the plots are read
from the runs' results.json files, never recomputed; each method's paired difference with econ comes from
the runs' per-problem logs (results_<method>.jsonl). The token-scaling study then measures ECON's and MAD's
tokens per problem for N = 2..16 with real prompts against the loopback server (see token_scaling.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python experiments/compare_methods.py` from a checkout, installed or not

from econ.errors import ConfigError, EconError  # noqa: E402
from econ.eval.report import paired_text, sampling_text  # noqa: E402
from econ.eval.stats import BOOTSTRAP_RESAMPLES, paired_difference  # noqa: E402
from econ.llm.team import team_roles  # noqa: E402
from econ.run.job import EXIT_USER_ERROR, run_or_exit  # noqa: E402
from econ.run.jsonl import read_jsonl  # noqa: E402
from experiments import token_scaling  # noqa: E402

ECON = ("econ_no_bne", "econ", "econ_fixed_action")
LEARNED = ("econ_no_bne", "econ")  # played by the policy; econ_fixed_action plays agents.fixed_action
BASELINES = ("single", "self_consistency", "mad")
MATCHED = ("self_consistency", "mad")  # the methods an equal budget applies to
# what the ECON protocol did, per method, as results.json reports it (baselines: their vote has no JSON or rounds)
PROTOCOL_FIELDS = ("commitment_json_rate", "mean_rounds", "converged_rate", "stop_reasons", "best_response_gap")
SCALING_N = list(range(2, 17))
RATIO_N = 9
RATIO_TARGET = 0.3

log = logging.getLogger("compare_methods")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/compare"), help="output dir (re-running resumes)")
    parser.add_argument("--limit", type=int, default=100, help="test problems (dataset.limit)")
    parser.add_argument("--n-agents", type=int, default=3, help="ECON executors and MAD debaters")
    parser.add_argument("--rounds", type=int, default=None, help="ECON's K at inference (bne.max_iterations_infer)")
    parser.add_argument("--ckpt", type=Path, default=None, help="trained ECON checkpoint; none = untrained policy")
    parser.add_argument(
        "--budget",
        choices=("calls", "completion_tokens", "none"),
        default="calls",
        help="what self_consistency and mad are matched to, per problem, from the econ run",
    )
    parser.add_argument("--methods", default=",".join(ECON + BASELINES), help="comma-separated methods to run")
    parser.add_argument(
        "--own-settings",
        action="store_true",
        help="also run self_consistency and mad at their own settings (rows '<method> (own settings)')",
    )
    parser.add_argument("--scaling-problems", type=int, default=3, help="problems per N in the token study")
    parser.add_argument("--scaling-rounds", type=int, default=2, help="rounds of both methods in the token study")
    parser.add_argument("--no-scaling", action="store_true", help="skip the token-scaling study")
    parser.add_argument("--scaling-only", action="store_true", help="only the token-scaling study")
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="run nothing: the table of the runs in --out that have finished (results.json), as far as they go",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. model=local")
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in ECON + BASELINES]
    if unknown:
        raise ConfigError(f"--methods: unknown {unknown}; choose from {list(ECON + BASELINES)}")
    if args.budget != "none" and "econ" not in args.methods and set(MATCHED) & set(args.methods):
        raise ConfigError("--budget: matching needs the econ run; add econ to --methods or pass --budget none")
    if args.table_only and args.scaling_only:
        raise ConfigError("--table-only and --scaling-only: the token study runs calls; pass one of them")
    args.no_scaling = args.no_scaling or args.table_only  # the token study makes calls
    if args.ckpt is not None:
        check_ckpt(args)
    return args


def check_ckpt(args: argparse.Namespace) -> None:
    """--ckpt is an econ checkpoint whose networks fit the runs' config: refused here, before any run starts."""
    from econ.config.settings import load_settings
    from econ.devtools.runs import compose_config
    from econ.learner.checkpoint import check_compatible, load_checkpoint_file  # torch: only when --ckpt is given

    checkpoint = load_checkpoint_file(args.ckpt, "--ckpt")
    try:
        settings = load_settings(compose_config(common_overrides(args)))
    except Exception:  # noqa: BLE001 - a wrong override: the first run reports it in its own words
        return
    check_compatible(checkpoint, settings.hparams["agents"])


# ---------------------------------------------------------------- runs


def path_override(key: str, path: Path) -> str:
    """A Hydra override for a path, quoted: run dirs and checkpoints often hold '=' and ','.

    Hydra still interpolates ${...} inside quotes; paths do not hold those in practice.
    """
    if "'" in str(path):
        raise ConfigError(f"{key}={path}: a path with a single quote cannot be passed to Hydra; rename it")
    return f"{key}='{path}'"


def run_entry(module: str, overrides: list[str], run_dir: Path) -> Path:
    """`python -m <module> <overrides>` in run_dir; its results.json, or an EconError naming the run's log."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", module, *overrides, path_override("hydra.run.dir", run_dir)]
    log.info("running %s", " ".join(command[2:]))
    done = subprocess.run(command, env=env)
    if done.returncode == EXIT_USER_ERROR:
        sys.exit(EXIT_USER_ERROR)  # the run has printed its one line naming the key; one is enough
    if done.returncode != 0:
        raise EconError(f"{module} {' '.join(overrides)} failed (exit {done.returncode}); see {run_dir}")
    return run_dir / "results.json"


def common_overrides(args: argparse.Namespace) -> list[str]:
    """What every run shares, so they all see the same test problems and agents; user overrides last."""
    shared = [f"dataset.limit={args.limit}", f"agents.n_agents={args.n_agents}"]
    if args.rounds is not None:
        shared.append(f"bne.max_iterations_infer={args.rounds}")
    return shared + list(args.overrides)


def run_econ(args: argparse.Namespace, runs: Path) -> dict[str, Path]:
    """results.json of each ECON method asked for: from the checkpoint, or from an untrained policy."""
    wanted = [m for m in ECON if m in args.methods]
    if not wanted:
        return {}
    shared = common_overrides(args)
    if args.ckpt is None:
        # econ.train with no episodes saves the untrained networks and evaluates them like a trained run
        logger = [] if any(o.startswith("logger=") for o in shared) else ["logger=csv"]
        results = run_entry(
            "econ.train",
            [*logger, "learner.max_episodes=0", f"eval_methods=[{','.join(wanted)}]", *shared],
            runs / "econ_untrained",
        )
        return {method: results for method in wanted}
    ckpt = [path_override("ckpt_path", args.ckpt.resolve())]
    return {
        method: run_entry(
            "econ.evaluate", [f"method={method}", *(ckpt if method in LEARNED else []), *shared], runs / method
        )
        for method in wanted
    }


def run_baselines(args: argparse.Namespace, runs: Path, econ_results: dict[str, Path]) -> dict[str, Path]:
    """results.json of each baseline run, by run name; self_consistency and mad matched to the econ run's budget.

    With --own-settings a matched method also runs at its own config (run name `<method>_own`).
    """
    out = {}
    for method in (m for m in BASELINES if m in args.methods):
        overrides = [f"method={method}", *common_overrides(args)]
        if method in MATCHED and args.budget != "none":
            source = path_override("method.budget_source", econ_results["econ"].resolve())
            out[method] = run_entry(
                "econ.evaluate",
                [*overrides, f"method.budget={args.budget}", source, "method.budget_method=econ"],
                runs / method,
            )
            if args.own_settings:
                out[own_run(method)] = run_entry("econ.evaluate", overrides, runs / own_run(method))
        else:
            out[method] = run_entry("econ.evaluate", overrides, runs / method)
    return out


def own_run(method: str) -> str:
    """The run name of a matched method played at its own settings."""
    return f"{method}_own"


def finished_runs(runs: Path) -> dict[str, Path]:
    """results.json of each run under `runs` that has finished, by run name; an EconError when none has."""
    names = [name for name, _ in table_runs({path.parent.name: path for path in runs.glob("*/results.json")})]
    if not names:
        raise EconError(f"--table-only: no run under {runs} has finished (no results.json); nothing to table yet")
    unfinished = sorted(p.name for p in runs.iterdir() if p.is_dir() and p.name not in names)
    if unfinished:
        log.info("--table-only: not finished, left out: %s", ", ".join(unfinished))
    return {name: runs / name / "results.json" for name in names}


def table_runs(paths: dict[str, Path]) -> list[tuple[str, str]]:
    """(run name, method) of every run, in the table's order: ECON, then each baseline and its own-settings run."""
    order = [(m, m) for m in ECON] + [(name, m) for m in BASELINES for name in (m, own_run(m))]
    return [(name, method) for name, method in order if name in paths]


# ---------------------------------------------------------------- table


def read_row(method: str, results_path: Path, untrained: bool, run: str | None = None) -> dict:
    """One table row, every number as the run's results.json reported it; `run` names a method's second run."""
    results = json.loads(results_path.read_text())
    s = results["methods"][method]
    n = s["n"]
    config = results.get("config", {})
    low, high = s["accuracy_ci95"]
    sampling = s.get("sampling") or {}
    own = run is not None and run != method
    wall_s, replayed, cache_only = play_wall(results_path.parent / f"results_{method}.jsonl", s.get("policy"))
    return {
        "method": method,
        "run": run or method,
        "label": f"{method} (own settings)" if own else _label(method, results, untrained),
        "budget": _budget_text(method, results, config),
        "sampling": sampling_text(sampling),
        **{
            f"{short}_{stat}": sampling[name][stat] if sampling else None
            for short, name in (("T", "temperature"), ("p", "penalty"))
            for stat in ("mean", "min", "max")
        },
        "n": n,
        "accuracy": s["accuracy"],
        "ci_low": low,
        "ci_high": high,
        "parse_rate": s["parse_rate"],
        **{key: s.get(key) for key in PROTOCOL_FIELDS},
        "llm_calls_per_problem": s["llm_calls_per_problem"],
        "prompt_tokens_per_problem": s["prompt_tokens"] / n,
        "completion_tokens_per_problem": s["completion_tokens"] / n,
        "tokens_per_problem": s["tokens_per_problem"],
        "wall_s_per_problem": (s["wall_s"] if wall_s is None else wall_s) / n,
        "replayed_problems": replayed,
        "cache_only_problems": cache_only,
        "cache_hits": s["cache_hits"],
        # USD of tokens spent at the model configs' prices (cache hits cost nothing); None: no priced model
        "cost_usd": s.get("cost_usd"),
        "cost_usd_per_problem": s.get("cost_usd_per_problem"),
        "dataset": results.get("dataset"),
        "model": results.get("model"),
        "team": team_text(results.get("team")),
        "results_json": str(results_path),
    }


def made_by(record: dict, policy: str | None) -> bool:
    """Whether a per-problem record is the policy's that results.json names (None: a run that names none)."""
    return policy is None or record.get("policy", "") == policy


def play_wall(rows_path: Path, policy: str | None) -> tuple[float | None, int, int]:
    """(wall s summed over the policy's problems as played, problems replayed, problems only the cache served).

    A problem whose every LLM call the cache served was not generated in this run: its wall_s times reading
    the cache. When the per-problem log holds an earlier record of it that made live calls and reached the
    same answer with as many calls (a policy rebuilt on another machine replays the recorded replies under a
    drifted fingerprint), that record's wall_s is the play that made the replies and stands in. Without one
    the problem counts as served by the cache alone. (None, 0, 0) when the log does not record wall times.
    """
    played: dict[str, dict] = {}  # problem -> its latest record that made live calls
    walls: dict[str, tuple[float, str]] = {}  # problem -> (wall s, "played" | "replayed" | "cache")
    for record in read_jsonl(rows_path):
        if "wall_s" not in record:
            return None, 0, 0
        pid, calls = record["problem_id"], record["llm_calls"]
        live = record["cache_hits"] < calls or calls == 0
        if made_by(record, policy):
            earlier = played.get(pid)
            if live:
                walls[pid] = (record["wall_s"], "played")
            elif earlier and (earlier["final_answer"], earlier["llm_calls"]) == (record["final_answer"], calls):
                walls[pid] = (earlier["wall_s"], "replayed")
            else:
                walls[pid] = (record["wall_s"], "cache")
        if live:
            played[pid] = record
    kinds = [kind for _, kind in walls.values()]
    return sum(wall for wall, _ in walls.values()), kinds.count("replayed"), kinds.count("cache")


def wall_cell(row: dict) -> str:
    """Wall s per problem, marked * when replayed problems took the earlier play's time, † when the cache alone served some."""
    marks = ("*" if row.get("replayed_problems") else "") + ("†" if row.get("cache_only_problems") else "")
    return f"{row['wall_s_per_problem']:.2f}{marks}"


def wall_notes(rows: list[dict]) -> list[str]:
    """The footnotes behind the marks of wall_cell, one per marked row."""
    notes = []
    for r in rows:
        if r.get("replayed_problems"):
            notes.append(
                f"\\* {r['replayed_problems']} of {r['run']}'s problems were replayed from the cache by a rebuilt "
                "policy (same answers, same calls): their wall time is the earlier play's that made those replies, "
                "from the same per-problem log."
            )
        if r.get("cache_only_problems"):
            notes.append(
                f"† {r['run']}: {r['cache_only_problems']} problems served entirely by the cache with no earlier "
                "play in this run: their wall time is reading the cache, not generating."
            )
    return notes


def team_text(team: dict | None) -> str:
    """`coordinator X, executors A+B` for a results.json team; "" when the run recorded none."""
    return team_roles(team) if team else ""


def _label(method: str, results: dict, untrained: bool) -> str:
    """ECON rows say which policy played: untrained, or trained for how many episodes."""
    if method not in LEARNED:
        return method
    if untrained:
        return f"{method} (untrained policy)"
    episodes = results.get("train_episodes")
    return method if episodes is None else f"{method} (policy trained {episodes} episodes)"


def _budget_text(method: str, results: dict, config: dict) -> str:
    agents = config.get("agents", {}).get("n_agents")
    if method == "econ_no_bne":
        return f"N={agents}, 1 round"
    if method in ("econ", "econ_fixed_action"):
        rounds = f"N={agents}, K<={config.get('bne', {}).get('max_iterations_infer')} rounds"
        return rounds if method == "econ" else f"{rounds}, one fixed action"
    baseline = results.get("baseline") or {}
    if baseline.get("budget"):
        return f"matched: {baseline['budget']['matched_per_problem']}"
    if method == "mad":
        return f"{baseline.get('agents')} agents x {baseline.get('rounds')} rounds"
    return f"{baseline.get('samples')} sample(s)"


def correct_by_problem(method: str, results_path: Path) -> dict[str, bool]:
    """Per-problem correctness behind a results.json, from the per-problem log next to it.

    Only records of the policy that results.json names count (a log may also hold records of earlier
    runs with other weights or prompts); the last record of a problem wins.
    """
    policy = json.loads(results_path.read_text())["methods"][method].get("policy")
    return {
        r["problem_id"]: bool(r["correct"])
        for r in read_jsonl(results_path.parent / f"results_{method}.jsonl")
        if made_by(r, policy)
    }


def check_same_problems(rows: list[dict]) -> None:
    """Refuse a table whose runs saw different problems (e.g. a reused --out with another --limit)."""
    first = rows[0]
    expected = set(correct_by_problem(first["method"], Path(first["results_json"])))
    for row in rows:
        ids = set(correct_by_problem(row["method"], Path(row["results_json"])))
        if ids != expected or row["n"] != len(expected):
            raise EconError(
                f"{row['method']} and {first['method']} ran on different problems; "
                "use a fresh --out for a new --limit or dataset"
            )


def add_paired(rows: list[dict]) -> None:
    """Each row's paired accuracy difference with the econ row on the same problems (none on econ's own row)."""
    econ = next((row for row in rows if row["method"] == "econ"), None)
    reference = correct_by_problem("econ", Path(econ["results_json"])) if econ else None
    for row in rows:
        paired = None
        if reference is not None and row["method"] != "econ":
            paired = paired_difference(correct_by_problem(row["method"], Path(row["results_json"])), reference)
        row["vs_econ"] = paired_text(paired.to_json()) if paired else "-"
        row["vs_econ_diff"] = paired.difference if paired else None
        row["vs_econ_ci_low"], row["vs_econ_ci_high"] = paired.ci95 if paired else (None, None)
        row["vs_econ_mcnemar_p"] = paired.mcnemar_p if paired else None
        row["only_this_solved"] = paired.a_only if paired else None
        row["only_econ_solved"] = paired.b_only if paired else None


def paired_note(rows: list[dict]) -> str:
    """What the paired column means, and why a small table is not a ranking."""
    if not any(row["vs_econ_diff"] is not None for row in rows):
        return "No econ run in this table: no paired differences."
    n = rows[0]["n"]
    return (
        f"Δ vs econ: the method's accuracy minus econ's on the same {n} problems, in percentage points, with a "
        f"95% interval from a seeded paired bootstrap over problems ({BOOTSTRAP_RESAMPLES} resamples) and the "
        "exact McNemar p (problems only this method solved against problems only econ solved, in the CSV). "
        f"An interval that contains 0 means these {n} problems cannot tell the two methods apart: read the "
        "rows as intervals, not as a ranking."
    )


def budget_note(budget: str, rows: list[dict]) -> str:
    """The sentence that says which budget the matched methods got, read from their results.json."""
    matched = [row for row in rows if row["method"] in MATCHED and row["run"] == row["method"]]
    if budget == "none" or not matched:
        return "No budget matching: every method ran with its own settings."
    source = json.loads(Path(matched[0]["results_json"]).read_text())["baseline"]["budget"]
    what = "LLM calls" if budget == "calls" else "completion tokens"
    own = [row["method"] for row in rows if row["run"] != row["method"]]
    also = f" Rows marked (own settings): {', '.join(own)} at their own config, unmatched." if own else ""
    return (
        f"Equal budget: {', '.join(r['method'] for r in matched)} matched to {source['method']}'s {what} per "
        f"problem ({source['target_per_problem']:.2f}, read from {source['source']}).{also}"
    )


def cost_cell(cost: float | None) -> str:
    return "-" if cost is None else f"${cost:.6f}"


def write_markdown(rows: list[dict], note: str, path: Path, scaling: str | None) -> None:
    header = (
        "| method | budget per problem | sampling T, p | n | accuracy (95% CI) | Δ vs econ, paired (95% CI), "
        "McNemar p | parse rate | LLM calls / problem | prompt tokens / problem | completion tokens / problem "
        "| wall s / problem | cache hits | cost $ / problem |"
    )
    lines = [
        f"# Methods compared: {rows[0]['dataset']}, {rows[0]['n']} test problems, model {rows[0]['model']}",
        "",
        note,
        "",
        header,
        "|" + "---|" * 13,
    ]
    teams = sorted({r["team"] for r in rows if r.get("team")})
    if teams:
        lines[1:1] = ["", "Team: " + "; ".join(teams)]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['budget']} | {r['sampling']} | {r['n']} "
            f"| {r['accuracy']:.1%} [{r['ci_low']:.1%}, {r['ci_high']:.1%}] | {r['vs_econ']} "
            f"| {r['parse_rate']:.1%} | {r['llm_calls_per_problem']:.2f} | {r['prompt_tokens_per_problem']:.0f} "
            f"| {r['completion_tokens_per_problem']:.0f} | {wall_cell(r)} | {r['cache_hits']} "
            f"| {cost_cell(r.get('cost_usd_per_problem'))} |"
        )
    lines += [
        "",
        paired_note(rows),
        "",
        (
            "Sampling: the executors' temperature T and repetition-penalty strength p, mean [min, max] over "
            "executors, rounds and problems; one value is a fixed action."
        ),
        "",
        (
            "Tokens count cached replies too; wall time does not include calls served by the cache "
            "(econ replays econ_no_bne's first round from it: same prompts and seeds). Cost: USD of the tokens "
            "spent at the model configs' price_per_mtok_in/out; tokens served by the cache cost nothing; "
            "- = no priced model."
        ),
        "",
    ]
    notes = wall_notes(rows)
    if notes:
        lines += [*notes, ""]
    if scaling:
        lines += [scaling, ""]
    path.write_text("\n".join(lines))


def write_csv(rows: list[dict], path: Path) -> None:
    """One row per method; a cell holding a dict or list (stop reasons) is written as JSON."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {key: json.dumps(value) if isinstance(value, dict | list) else value for key, value in row.items()}
            for row in rows
        )


def plot_accuracy_vs_tokens(rows: list[dict], path: Path) -> None:
    """One point per method: accuracy (95% CI bars) against tokens per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in rows:
        ax.errorbar(
            r["tokens_per_problem"],
            r["accuracy"],
            fmt="o",
            capsize=4,
            label=r["label"],
            yerr=[[r["accuracy"] - r["ci_low"]], [r["ci_high"] - r["accuracy"]]],
        )
    ax.set_xlabel("tokens per problem (prompt + completion)")
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_title(f"{rows[0]['dataset']}: accuracy vs tokens, {rows[0]['n']} problems")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- token scaling


def token_study(args: argparse.Namespace, out: Path) -> str:
    """Measure tokens per problem vs N for ECON and MAD; write scaling.csv and the plot; the ratio sentence."""
    from hydra import compose, initialize_config_dir

    from econ.config.resolvers import register_resolvers
    from econ.data.datasets import load_splits
    from econ.embed.local import LocalEmbedder

    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=[*args.overrides, "method=mad"])
    problems = load_splits(cfg.dataset, cfg.seed).test[: args.scaling_problems]
    rows = token_scaling.measure(cfg, SCALING_N, args.scaling_rounds, problems, LocalEmbedder())
    write_csv(rows, out / "scaling.csv")
    token_scaling.plot(rows, out / "tokens_vs_n.png")
    ratio = token_scaling.ratio_at(rows, RATIO_N)
    share = {
        key: token_scaling.ratio_at(rows, RATIO_N, key, over="tokens_per_problem")
        for key in ("executor_completion_tokens", "executor_prompt_tokens")
    }
    last_round = token_scaling.ratio_at(rows, RATIO_N, "last_round_prompt_tokens")
    verdict = "meets" if ratio <= RATIO_TARGET else "misses"
    return (
        f"Token scaling (loopback server, real prompts, {args.scaling_rounds} rounds, {len(problems)} problems): "
        f"ECON/MAD tokens per problem at N={RATIO_N} = {ratio:.3f}, which {verdict} the target <= {RATIO_TARGET}; "
        f"prompt tokens of the last round alone: {last_round:.3f}. Of ECON's {ratio:.3f}, its executors' "
        f"completions are {share['executor_completion_tokens']:.3f} of MAD's tokens (both methods write N answers "
        f"per round) and their prompts {share['executor_prompt_tokens']:.3f} (the question and strategy each "
        "round, plus the executor's own previous answer after round 0); the coordinator's strategy and "
        "commitments are the rest. Only MAD's debate rounds are O(N²·L), so the whole-problem ratio falls "
        "toward the last round's as N or the number of rounds grows (see scaling.csv, tokens_vs_n.png)."
    )


def main(argv: list[str] | None = None) -> None:
    # progress on stdout, as the runs' own logs are; stderr keeps the one `error:` line of a failure
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s", stream=sys.stdout)
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    scaling = None
    if args.table_only:
        paths = finished_runs(out / "runs")
    elif not args.scaling_only:
        econ_results = run_econ(args, out / "runs")
        paths = {**econ_results, **run_baselines(args, out / "runs", econ_results)}
    if not args.scaling_only:
        rows = [read_row(method, paths[name], args.ckpt is None, name) for name, method in table_runs(paths)]
        check_same_problems(rows)
        add_paired(rows)
        write_csv(rows, out / "compare.csv")
        plot_accuracy_vs_tokens(rows, out / "accuracy_vs_tokens.png")
    if not args.no_scaling:
        scaling = token_study(args, out)
        print(scaling)
    if not args.scaling_only:
        write_markdown(rows, budget_note(args.budget, rows), out / "compare.md", scaling)
        print((out / "compare.md").read_text())


if __name__ == "__main__":
    run_or_exit(main)
