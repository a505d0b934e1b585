"""What the BNE rounds and the learned policy did, read from an ECON run's per-problem log.

    python experiments/bne_rounds.py RUN_DIR [--method econ] [--out DIR]

Per round k: how many problems played it, how often the commitment changed, the accuracy of the
commitment held after round k (a problem that stopped earlier keeps its last commitment, which is
what the method would have answered), and the executors' actions: mean T and p, their spread across
problems (does the policy read the problem?) and their change from the round before (does it react
to what it saw?). Only the records of the policy that results.json names are read.

`training_rows` reads a training run's traces the same way, by blocks of episodes: how the policy's
round-0 action and the team's accuracy moved while it learned; `update_rows` reads its metrics.csv:
what the critic said of the policy before each update and how far the update moved it
(econ/learner/probe.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python experiments/bne_rounds.py` from a checkout, installed or not

from econ.data.answers import answers_match  # noqa: E402
from econ.errors import ConfigError  # noqa: E402
from econ.eval.stats import wilson_interval  # noqa: E402
from econ.run.job import run_or_exit  # noqa: E402
from econ.run.jsonl import read_jsonl  # noqa: E402
from econ.view.runs import read_metrics  # noqa: E402


@dataclass(frozen=True)
class RoundRow:
    """One BNE round over all problems of a run."""

    round: int
    problems: int  # problems that played this round
    played_share: float
    commitment_changed: float | None  # share of those whose committed answer changed at this round
    accuracy: float  # of the commitment held after this round, over every problem
    ci_low: float
    ci_high: float
    T_mean: float
    T_across_problems: float  # std over problems of the round's mean T (0 = the same action everywhere)
    T_change: float | None  # mean |T_k - T_{k-1}| per executor, over problems that played both rounds
    p_mean: float
    p_across_problems: float
    p_change: float | None


def episodes(run_dir: Path, method: str) -> tuple[list[dict], str]:
    """The method's per-problem records under the policy results.json names, and the answer kind."""
    if not (run_dir / "results.json").is_file():
        raise ConfigError(f"RUN_DIR={run_dir}: no results.json; pass a finished run dir (econ.evaluate or econ.train)")
    results = json.loads((run_dir / "results.json").read_text())
    policy = results["methods"][method].get("policy")
    kind = (results.get("config") or {}).get("dataset", {}).get("answer_type") or results.get("dataset")
    latest = {
        r["problem_id"]: r
        for r in read_jsonl(run_dir / f"results_{method}.jsonl")
        if policy is None or r.get("policy", "") == policy
    }
    return list(latest.values()), kind


def _std(values: list[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def _change(records: list[dict], k: int, column: int) -> float | None:
    """Mean over problems and executors of |action_k − action_{k−1}| in one action column."""
    steps = [
        abs(now[column] - before[column])
        for r in records
        if len(r["rounds"]) > k
        for now, before in zip(r["rounds"][k]["actions"], r["rounds"][k - 1]["actions"])
    ]
    return statistics.fmean(steps) if steps else None


def round_rows(records: list[dict], kind: str) -> list[RoundRow]:
    """One row per round any problem played."""
    n = len(records)
    rows = []
    for k in range(max((len(r["rounds"]) for r in records), default=0)):
        played = [r for r in records if len(r["rounds"]) > k]
        held = [r["rounds"][min(k, len(r["rounds"]) - 1)]["commitment"] for r in records]
        correct = sum(answers_match(answer, r["gold"], kind) for answer, r in zip(held, records))
        low, high = wilson_interval(correct, n)
        changed = [r["rounds"][k].get("commitment_changed") for r in played]
        changed = [c for c in changed if c is not None]
        per_problem = {
            column: [statistics.fmean(a[column] for a in r["rounds"][k]["actions"]) for r in played]
            for column in (0, 1)
        }
        rows.append(
            RoundRow(
                round=k,
                problems=len(played),
                played_share=len(played) / n,
                commitment_changed=sum(changed) / len(changed) if changed else None,
                accuracy=correct / n,
                ci_low=low,
                ci_high=high,
                T_mean=statistics.fmean(per_problem[0]),
                T_across_problems=_std(per_problem[0]),
                T_change=_change(records, k, 0) if k else None,
                p_mean=statistics.fmean(per_problem[1]),
                p_across_problems=_std(per_problem[1]),
                p_change=_change(records, k, 1) if k else None,
            )
        )
    return rows


def per_agent_round0(records: list[dict]) -> list[dict[str, float]]:
    """Each executor's round-0 action over problems: mean and std of T and p (the policy's own reading)."""
    agents = len(records[0]["rounds"][0]["actions"]) if records else 0
    out = []
    for i in range(agents):
        ts = [r["rounds"][0]["actions"][i][0] for r in records]
        ps = [r["rounds"][0]["actions"][i][1] for r in records]
        out.append(
            {
                "agent": i,
                "T_mean": statistics.fmean(ts),
                "T_std": _std(ts),
                "p_mean": statistics.fmean(ps),
                "p_std": _std(ps),
            }
        )
    return out


@dataclass(frozen=True)
class TrainingBlock:
    """A block of consecutive training episodes: the team's accuracy and the policy's round-0 action."""

    first_episode: int
    last_episode: int
    accuracy: float
    mean_rounds: float
    T_mean: float
    T_across_problems: float
    p_mean: float
    p_across_problems: float


def training_rows(traces: Path, block: int) -> list[TrainingBlock]:
    """The `train` records of a training run's traces.jsonl, `block` episodes per row (a resumed
    episode counts once, its last record)."""
    latest = {r["episode"]: r for r in read_jsonl(traces) if r.get("kind") == "train"}
    ordered = [latest[e] for e in sorted(latest)]
    rows = []
    for start in range(0, len(ordered), block):
        chunk = ordered[start : start + block]
        per_problem = {
            column: [statistics.fmean(a[column] for a in r["rounds"][0]["actions"]) for r in chunk] for column in (0, 1)
        }
        rows.append(
            TrainingBlock(
                first_episode=chunk[0]["episode"],
                last_episode=chunk[-1]["episode"],
                accuracy=statistics.fmean(bool(r["correct"]) for r in chunk),
                mean_rounds=statistics.fmean(len(r["rounds"]) for r in chunk),
                T_mean=statistics.fmean(per_problem[0]),
                T_across_problems=_std(per_problem[0]),
                p_mean=statistics.fmean(per_problem[1]),
                p_across_problems=_std(per_problem[1]),
            )
        )
    return rows


def training_markdown(rows: list[TrainingBlock]) -> str:
    """The training blocks as a markdown table, or one line saying the run's traces held no episode."""
    if not rows:
        return "No training episodes in the training run's traces.jsonl."
    lines = [
        (
            "**The policy in training** (by block of episodes: the team's accuracy on its training problems, "
            "rounds played, and the executors' round-0 action as played, exploration noise included: mean "
            "and spread of the per-problem mean)"
        ),
        "",
        "| episodes | accuracy | mean rounds | T mean | T across problems | p mean | p across problems |",
        "|" + "---|" * 7,
    ]
    lines += [
        f"| {r.first_episode}–{r.last_episode} | {r.accuracy:.0%} | {r.mean_rounds:.2f} | {r.T_mean:.3f} "
        f"| {r.T_across_problems:.3f} | {r.p_mean:.3f} | {r.p_across_problems:.3f} |"
        for r in rows
    ]
    return "\n".join(lines)


UPDATE_COLUMNS = (
    ("policy_T", "policy T"),
    ("best_response_T", "critic's best T"),
    ("raises_T", "∂Q_tot/∂u_T > 0 for"),
    ("dT_policy_step", "ΔT policy step"),
    ("dT_belief_step", "ΔT belief step"),
    ("policy_p", "policy p"),
    ("best_response_p", "critic's best p"),
    ("dp_policy_step", "Δp policy step"),
    ("dp_belief_step", "Δp belief step"),
    ("best_response_gap", "ε"),
    ("buffer_T_std", "buffer T std"),
)


SIGNED_UPDATE_KEYS = {"dT_policy_step", "dT_belief_step", "dp_policy_step", "dp_belief_step"}


def update_rows(metrics: Path) -> list[dict[str, float]]:
    """Per update, the `probe/*` metrics of a training run's metrics.csv (the last value of each, as a
    resumed run appends), with the episode it followed; [] when the run logged none."""
    by_step: dict[int, dict[str, float]] = {}
    for step, metric, value in read_metrics(metrics):
        if metric.startswith("probe/"):
            by_step.setdefault(int(step), {})[metric.removeprefix("probe/")] = value
    return [{"episode": step, **values} for step, values in sorted(by_step.items())]


def _update_cell(value: float | None, key: str) -> str:
    if value is None:
        return "–"
    if key == "raises_T":
        return f"{value:.0%}"
    return f"{value:+.3f}" if key in SIGNED_UPDATE_KEYS else f"{value:.3f}"


def updates_markdown(rows: list[dict[str, float]]) -> str:
    """The updates as a markdown table, or one line saying the run logged none."""
    if not rows:
        return (
            "No `probe/*` metrics in the training run's metrics.csv (trained before the learner logged them, "
            "or with logger=none)."
        )
    lines = [
        (
            "**What each update did** (on the replay buffer's beliefs, before the update: the policy's mean "
            "action, the critic's best response, the share of executor-rounds whose ∂Q_tot/∂u_T favours a "
            "higher T; then how far the update moved the mean action by its policy-head step and by its "
            "belief-body step)"
        ),
        "",
        "| after episode | " + " | ".join(label for _, label in UPDATE_COLUMNS) + " |",
        "|" + "---|" * (len(UPDATE_COLUMNS) + 1),
    ]
    for row in rows:
        cells = [_update_cell(row.get(key), key) for key, _ in UPDATE_COLUMNS]
        lines.append(f"| {int(row['episode'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _num(x: float | None, spec: str = ".3f") -> str:
    return "–" if x is None else format(x, spec)


def markdown(method: str, rows: list[RoundRow], agents: list[dict[str, float]]) -> str:
    """The round table and the per-executor round-0 table, as markdown."""
    lines = [
        (
            f"**{method}, by BNE round** (accuracy of the commitment held after the round, over all problems; "
            "T, p: executors' actions, mean, spread of the per-problem mean across problems, and mean change "
            "from the previous round)"
        ),
        "",
        (
            "| round | problems playing | commitment changed | accuracy (95% CI) | T mean | T across problems "
            "| T change | p mean | p across problems | p change |"
        ),
        "|" + "---|" * 10,
    ]
    for r in rows:
        lines.append(
            f"| {r.round} | {r.problems} ({r.played_share:.0%}) | "
            f"{'–' if r.commitment_changed is None else format(r.commitment_changed, '.0%')} "
            f"| {r.accuracy:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}] | {r.T_mean:.3f} "
            f"| {r.T_across_problems:.3f} | {_num(r.T_change)} | {r.p_mean:.3f} "
            f"| {r.p_across_problems:.3f} | {_num(r.p_change)} |"
        )
    if agents:
        lines += [
            "",
            f"**{method}, round-0 action per executor across problems**",
            "",
            "| executor | T mean | T std | p mean | p std |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {a['agent']} | {a['T_mean']:.3f} | {a['T_std']:.3f} | {a['p_mean']:.3f} | {a['p_std']:.3f} |"
            for a in agents
        ]
    return "\n".join(lines)


def plot_accuracy_by_round(by_method: dict[str, list[RoundRow]], path: Path, title: str) -> None:
    """Accuracy of the held commitment after each round, one line per method, with 95% CI bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for method, rows in by_method.items():
        ks = [r.round for r in rows]
        acc = [r.accuracy for r in rows]
        ax.errorbar(
            ks,
            acc,
            yerr=[[a - r.ci_low for a, r in zip(acc, rows)], [r.ci_high - a for a, r in zip(acc, rows)]],
            marker="o",
            capsize=4,
            label=method,
        )
    ax.set_xlabel("BNE round k (commitment held after round k)")
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_xticks(sorted({r.round for rows in by_method.values() for r in rows}))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--method", default="econ")
    parser.add_argument("--out", type=Path, default=None, help="where to write rounds_<method>.json/.md (run_dir)")
    args = parser.parse_args(argv)
    records, kind = episodes(args.run_dir, args.method)
    rows, agents = round_rows(records, kind), per_agent_round0(records)
    out = args.out or args.run_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rounds_{args.method}.json").write_text(
        json.dumps({"rounds": [asdict(r) for r in rows], "round0_per_agent": agents}, indent=2)
    )
    text = markdown(args.method, rows, agents)
    (out / f"rounds_{args.method}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    run_or_exit(main)
