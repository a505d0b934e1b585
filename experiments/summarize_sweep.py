"""One table and PNG plots for a Hydra multirun, from each job's results.json (no W&B needed).

    python experiments/summarize_sweep.py outputs/multirun/svamp/2026-11-26_10-00-00 [--out DIR]

Writes sweep_summary.csv (one row per job and method; failed and unfinished jobs too),
vs_<axis>.png (accuracy and tokens per problem against every numeric axis the sweep varies,
e.g. n_agents or BNE rounds, averaged over the other varied values) and
heatmap_belief_dim_x_<rounds>.png (accuracy over belief_dim x BNE rounds) when both vary.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table

from econ.errors import EconError
from econ.run.job import FAILED_FILE, run_or_exit
from econ.run.sweep import RESULTS_FILE

log = logging.getLogger("summarize_sweep")
# Axes the plots know, by config key; a sweep over any of them gets a `vs_<name>.png`.
AXES = {
    "agents.n_agents": "n_agents",
    "agents.belief_dim": "belief_dim",
    "bne.max_iterations_infer": "bne_rounds_infer",
    "bne.max_iterations_train": "bne_rounds_train",
    "agents.entity_dim": "entity_dim",
}
MEAN_NOTE = "\n(mean over the other varied values)"
ROUNDS_KEYS = ("bne.max_iterations_infer", "bne.max_iterations_train")
COLUMNS = (
    "n",
    "accuracy",
    "accuracy_ci95",
    "tokens_per_problem",
    "llm_calls",
    "mean_rounds",
    "converged_rate",
    "wall_s",
)


@dataclass
class Job:
    """One job dir of the sweep: its overrides, the values of the plotted axes and its outcome."""

    num: int
    path: Path
    overrides: dict[str, str]
    axes: dict[str, Any]
    status: str  # done | failed | unfinished
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""
    split: str = "test"  # what the job scored: test, or validation in a hyper-parameter search


def load_job(job_dir: Path) -> Job:
    """A job from its .hydra files plus results.json or failed.json."""
    hydra_cfg = OmegaConf.load(job_dir / ".hydra" / "hydra.yaml").hydra
    parsed = OverridesParser.create().parse_overrides(list(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")))
    overrides = {o.key_or_group: str(o.value()) for o in parsed if not o.is_delete()}
    config = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
    axes = {key: OmegaConf.select(config, key, throw_on_resolution_failure=False) for key in AXES}
    job = Job(int(hydra_cfg.job.num), job_dir, overrides, axes, "unfinished")
    if (job_dir / RESULTS_FILE).exists():
        results = json.loads((job_dir / RESULTS_FILE).read_text())
        job.status, job.methods, job.split = "done", results["methods"], results.get("eval_split", "test")
    elif (job_dir / FAILED_FILE).exists():
        job.status, job.error = "failed", json.loads((job_dir / FAILED_FILE).read_text())["error"]
    return job


def load_sweep(sweep_dir: Path) -> list[Job]:
    """Every job dir under a multirun dir, by job number."""
    dirs = sorted({p.parents[1] for p in sweep_dir.glob("*/.hydra/overrides.yaml")})
    if not dirs:
        raise EconError(
            f"{sweep_dir}: no job dirs (<job>/.hydra/overrides.yaml); give a multirun dir such as "
            "outputs/multirun/svamp/<timestamp>"
        )
    return sorted((load_job(d) for d in dirs), key=lambda job: job.num)


def varied_keys(jobs: list[Job]) -> list[str]:
    """Override keys whose value is not the same in every job, in first-seen order."""
    keys = list(dict.fromkeys(key for job in jobs for key in job.overrides))
    return [key for key in keys if len({job.overrides.get(key) for job in jobs}) > 1]


def summary_frame(jobs: list[Job], varied: list[str]) -> pd.DataFrame:
    """One row per job and method (one row for a job without results), varied values as columns."""
    rows = []
    for job in jobs:
        base = {"job": job.num, "status": job.status, **{key: job.overrides.get(key) for key in varied}, **job.axes}
        if not job.methods:
            rows.append({**base, "method": "", "error": job.error})
        for method, summary in job.methods.items():
            low, high = summary["accuracy_ci95"]
            values = {key: summary[key] for key in COLUMNS if key != "accuracy_ci95"}
            rows.append(
                {
                    **base,
                    "method": method,
                    **values,
                    "accuracy_ci95_low": low,
                    "accuracy_ci95_high": high,
                    "eval_split": job.split,
                    "error": "",
                }
            )
    return pd.DataFrame(rows)


def print_summary(frame: pd.DataFrame, varied: list[str], title: str) -> None:
    """The summary as a terminal table: accuracy with its 95% CI, tokens, calls, rounds, time."""
    table = Table(title=title)
    columns = [
        "job",
        "status",
        *varied,
        "method",
        "n",
        "accuracy (95% CI)",
        "tokens/problem",
        "calls",
        "rounds",
        "wall s",
    ]
    for column in columns:
        table.add_column(
            column, justify="right" if column in ("n", "tokens/problem", "calls", "wall s") else "left", no_wrap=True
        )
    for row in frame.to_dict("records"):
        cells = [str(row["job"]), row["status"], *(str(row[key]) for key in varied), row["method"]]
        if row["status"] == "done":
            cells += [
                str(int(row["n"])),
                f"{row['accuracy']:.1%} [{row['accuracy_ci95_low']:.1%}, {row['accuracy_ci95_high']:.1%}]",
                f"{row['tokens_per_problem']:.0f}",
                str(int(row["llm_calls"])),
                f"{row['mean_rounds']:.2f}",
                f"{row['wall_s']:.1f}",
            ]
        else:
            cells += ["", row["error"], "", "", "", ""]
        table.add_row(*cells)
    console = Console()
    console.width = max(console.width, 200)  # a pipe or CI log is not a reason to wrap the table
    console.print(table)


def accuracy_label(done: pd.DataFrame) -> str:
    """ "test accuracy" or "validation accuracy": the split the plotted jobs scored."""
    splits = sorted(done["eval_split"].unique())
    return f"{splits[0]} accuracy" if len(splits) == 1 else f"accuracy ({' / '.join(splits)} splits mixed)"


def plot_against(done: pd.DataFrame, axis: str, out: Path) -> Path:
    """Accuracy and tokens per problem against one axis, a line per method, mean over other values."""
    name = AXES[axis]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for method, rows in done.groupby("method", sort=False):
        means = rows.groupby(axis)[["accuracy", "tokens_per_problem"]].mean().sort_index()
        left.plot(means.index, means["accuracy"], marker="o", label=method)
        right.plot(means.index, means["tokens_per_problem"], marker="o", label=method)
    note = MEAN_NOTE if done.groupby(["method", axis]).size().max() > 1 else ""
    left.set(xlabel=name, ylabel=accuracy_label(done), ylim=(-0.02, 1.02), title=f"accuracy vs {name}{note}")
    right.set(xlabel=name, ylabel="tokens per problem", title=f"tokens vs {name}{note}")
    for ax in (left, right):
        ax.set_xticks(sorted(done[axis].unique()))
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    path = out / f"vs_{name}.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_heatmap(done: pd.DataFrame, rounds_axis: str, method: str, out: Path) -> Path:
    """Accuracy of one method over belief_dim x BNE rounds (mean over other varied values)."""
    rows = done[done["method"] == method]
    grid = rows.pivot_table(index="agents.belief_dim", columns=rounds_axis, values="accuracy", aggfunc="mean")
    note = MEAN_NOTE if rows.groupby(["agents.belief_dim", rounds_axis]).size().max() > 1 else ""
    figure, ax = plt.subplots(figsize=(1.2 * len(grid.columns) + 3, 0.8 * len(grid.index) + 2))
    image = ax.imshow(grid.values, cmap="viridis", vmin=0, vmax=1, origin="lower", aspect="auto")
    ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
    ax.set_yticks(range(len(grid.index)), [str(i) for i in grid.index])
    for (i, j), value in pd.DataFrame(grid.values).stack().items():
        ax.text(j, i, f"{value:.0%}", ha="center", va="center", color="white" if value < 0.6 else "black")
    ax.set(xlabel=AXES[rounds_axis], ylabel="belief_dim", title=f"{method} accuracy{note}")
    figure.colorbar(image, ax=ax, label=accuracy_label(rows))
    figure.tight_layout()
    path = out / f"heatmap_belief_dim_x_{AXES[rounds_axis]}.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def summarize_sweep(sweep_dir: Path, out: Path) -> list[Path]:
    """Write the CSV and the plots; return the files written."""
    jobs = load_sweep(sweep_dir)
    varied = varied_keys(jobs)
    frame = summary_frame(jobs, varied)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "sweep_summary.csv"]
    frame.to_csv(written[0], index=False)
    counts = frame.drop_duplicates("job")["status"].value_counts().to_dict()
    print_summary(frame, varied, f"{sweep_dir}: {len(jobs)} jobs " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    done = frame[frame["status"] == "done"]
    if done.empty:
        log.warning("no job has finished: nothing to plot")
        return written
    swept_axes = [key for key in AXES if done[key].nunique() > 1]
    written += [plot_against(done, axis, out) for axis in swept_axes]
    bne_method = "econ" if "econ" in set(done["method"]) else done["method"].iloc[-1]
    written += [
        plot_heatmap(done, key, bne_method, out)
        for key in ROUNDS_KEYS
        if "agents.belief_dim" in swept_axes and key in swept_axes
    ]
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a Hydra multirun dir (holds one dir per job)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the CSV and PNGs (default: sweep_dir)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in run_or_exit(lambda: summarize_sweep(args.sweep_dir, args.out or args.sweep_dir)):
        log.info("wrote %s", path)


if __name__ == "__main__":
    main()
