"""Read a run dir or a comparison dir into the one JSON object the page embeds.

    {"title", "mode": "run"|"compare", "source", "reference": method|None,
     "runs": [{"name", "path", "dataset", "model", "split", "n_agents", "baseline", "alpha",
               "train_episodes", "usage", "config_text"}],
     "methods": [{"name", "run", "label", "budget", "columns": {...}, "other": {...}, "from_traces",
                  "paired": {"reference", "n", "difference", "ci95", "a_only", "b_only",
                             "mcnemar_p"}|None}],
     "eval": {"methods": [name, ...], "items": [{"id", "question", "gold", "eps": {method: episode}}]},
     "train": [{"run", "methods", "items", "curves": {metric: [[step, value], ...]}}]}

An episode is `episodes.episode_view`'s record. A run dir holds results.json and/or traces.jsonl;
a comparison dir (experiments/compare_methods.py --out) holds runs/<name>/ run dirs and compare.csv;
a sweep dir holds run dirs directly (a method run twice shows as <run>/<method>).
Numbers come from results.json as the run reported them; only a method missing there (a run still
going) is summarised from its traces, with econ.report.summarize, and marked so.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from econ.errors import ConfigError
from econ.eval.report import summarize
from econ.eval.stats import paired_difference
from econ.game.records import EpisodeResult, RoundRecord
from econ.run.inputs import read_json_object, readable_dir
from econ.run.jsonl import read_jsonl
from econ.view import fields as F
from econ.view.episodes import AnswerChecker, episode_view

MAX_CURVE_POINTS = 1000
_SUMMARY_ALIASES = {alias for aliases in F.SUMMARY_COLUMNS.values() for alias in aliases}
_ROUND_FIELDS = {f.name for f in fields(RoundRecord)}


@dataclass
class RunFiles:
    """What one run dir holds, parsed; absent files read as empty."""

    name: str
    path: Path
    results: dict[str, Any]
    traces: list[dict[str, Any]]  # last line per (kind, method, problem, episode): a resumed run may repeat one
    metrics: list[tuple[float, str, float]]
    config: dict[str, Any]
    config_text: str


def is_run_dir(path: Path) -> bool:
    return (path / "results.json").is_file() or (path / "traces.jsonl").is_file()


def compare_run_dirs(path: Path) -> list[Path]:
    """The run dirs of a comparison dir (runs/<name>/) or of a sweep dir (<job>/), in name order."""
    parent = path / "runs" if (path / "runs").is_dir() else path
    return sorted(p for p in parent.iterdir() if p.is_dir() and is_run_dir(p))


def read_metrics(path: Path) -> list[tuple[float, str, float]]:
    """(step, metric, value) rows of a run's metrics.csv; torn rows skipped, [] when there is none."""
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            step, metric, value = (row.get(k) for k in F.METRICS_COLUMNS)
            try:
                rows.append((float(step), str(metric), float(value)))
            except (TypeError, ValueError):
                continue  # a torn last row of a killed run
    return rows


FIX = "restore it from the run, or give another RUN_DIR"


def read_run(path: Path, name: str) -> RunFiles:
    results_path = path / "results.json"
    results = read_json_object(results_path, "RUN_DIR", FIX) if results_path.exists() else {}
    latest: dict[tuple, dict[str, Any]] = {}
    for line in read_jsonl(path / "traces.jsonl"):
        key = tuple(F.pick(line, names) for names in (F.KIND, F.METHOD, F.PROBLEM_ID, F.EPISODE))
        latest.pop(key, None)  # re-insert: a repeated episode takes its latest place and content
        latest[key] = line
    config_file = path / "config_resolved.yaml"
    if config_file.is_file():
        config_text = config_file.read_text()
        try:
            config = yaml.safe_load(config_text) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"RUN_DIR={config_file}: not YAML ({type(error).__name__}); {FIX}") from None
        if not isinstance(config, dict):
            raise ConfigError(f"RUN_DIR={config_file}: holds a YAML {type(config).__name__}, not a config; {FIX}")
    else:
        config = F.pick(results, F.RESULTS_CONFIG, {})
        config_text = json.dumps(config, indent=2) if config else ""
    return RunFiles(name, path, results, list(latest.values()), read_metrics(path / "metrics.csv"), config, config_text)


def dataset_kind(run: RunFiles) -> str:
    """The answer checker's kind: the dataset's name, or its answer_type for a custom one."""
    config = run.config or F.pick(run.results, F.RESULTS_CONFIG, {})
    name = F.nested(config, F.CONFIG_DATASET_NAME) or F.pick(run.results, F.RESULTS_DATASET, "numeric")
    return F.nested(config, F.CONFIG_ANSWER_TYPE, "numeric") if name == "custom" else name


def _summary_from_traces(lines: list[dict[str, Any]]) -> dict[str, Any]:
    episodes = []
    for line in lines:
        data = {
            **line,
            "rounds": [{k: v for k, v in r.items() if k in _ROUND_FIELDS} for r in line.get("rounds", [])],
            "calls": [],
        }
        episodes.append(EpisodeResult.from_json(data))
    return summarize(episodes)


def _method_entry(
    name: str,
    method: str,
    run: RunFiles,
    summary: dict[str, Any],
    from_traces: bool,
    compare_rows: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """A results-table row: the page's columns, fields it does not know yet, compare.csv's label and budget."""
    row = compare_rows.get(method, {}) if name == method else {}
    return {
        "name": name,
        "run": run.name,
        "label": F.pick(row, F.COMPARE_LABEL, name),
        "budget": F.pick(row, F.COMPARE_BUDGET),
        "columns": {column: F.pick(summary, aliases) for column, aliases in F.SUMMARY_COLUMNS.items()},
        "other": {k: v for k, v in summary.items() if k not in _SUMMARY_ALIASES and k not in F.SUMMARY_HIDDEN},
        "from_traces": from_traces,
        "paired": None,
    }


def _paired(items: list[dict[str, Any]], method: str, reference: str) -> dict[str, Any] | None:
    """The method's paired accuracy difference with the reference on the problems both answered.

    The same statistics as results.json's vs_econ (econ.eval.stats.paired_difference), so every row of a page
    reads alike whether its run wrote vs_econ or not; None when the two share no problem.
    """
    both = {item["id"]: item["eps"] for item in items if method in item["eps"] and reference in item["eps"]}
    if not both:
        return None
    paired = paired_difference(
        {i: bool(eps[method]["correct"]) for i, eps in both.items()},
        {i: bool(eps[reference]["correct"]) for i, eps in both.items()},
    )
    return {"reference": reference, **paired.to_json()}


def _curves(metrics: list[tuple[float, str, float]]) -> dict[str, list[list[float]]]:
    """train/*, alpha/* and loss/* series, averaged into at most MAX_CURVE_POINTS buckets each."""
    series: dict[str, list[tuple[float, float]]] = {}
    for step, metric, value in metrics:
        if metric.startswith(F.METRIC_PREFIXES):
            series.setdefault(metric, []).append((step, value))
    curves = {}
    for metric, points in series.items():
        points.sort()
        size = -(-len(points) // MAX_CURVE_POINTS)
        buckets = [points[i : i + size] for i in range(0, len(points), size)]
        curves[metric] = [[bucket[-1][0], sum(v for _, v in bucket) / len(bucket)] for bucket in buckets]
    return curves


def _items(episodes: list[dict[str, Any]], key) -> list[dict[str, Any]]:
    """Episodes grouped by key(episode) in first-seen order; question and gold lifted to the item."""
    items: dict[str, dict[str, Any]] = {}
    for ep in episodes:
        item = items.setdefault(
            key(ep), {"id": key(ep), "problem_id": ep["problem_id"], "question": None, "gold": ep["gold"], "eps": {}}
        )
        question = ep.pop("question")
        item["question"] = item["question"] or question
        item["eps"][ep["method"]] = ep
    return list(items.values())


def _run_info(run: RunFiles) -> dict[str, Any]:
    r = run.results
    return {
        "name": run.name,
        "path": str(run.path),
        "dataset": F.pick(r, F.RESULTS_DATASET, F.nested(run.config, F.CONFIG_DATASET_NAME)),
        "model": F.pick(r, F.RESULTS_MODEL),
        "split": F.pick(r, F.RESULTS_SPLIT),
        "n_agents": F.pick(r, F.RESULTS_N_AGENTS),
        "baseline": F.pick(r, F.RESULTS_BASELINE),
        "alpha": F.pick(r, F.RESULTS_ALPHA),
        "train_episodes": F.pick(r, F.RESULTS_TRAIN_EPISODES),
        "usage": F.nested(r, F.RESULTS_USAGE + ("total",)),
        "config_text": run.config_text,
    }


@dataclass
class RunView:
    """What one run adds to the page: its methods' rows, its evaluation episodes, its training (if any)."""

    methods: list[dict[str, Any]]
    episodes: list[dict[str, Any]]
    train: dict[str, Any] | None


def _run_view(run: RunFiles, compare_rows: dict[str, dict[str, str]], taken: set[str]) -> RunView:
    """One run's methods (named <run>/<method> when an earlier run took the name) and episodes."""
    check = AnswerChecker(dataset_kind(run))
    reported = F.pick(run.results, F.RESULTS_METHODS, {})
    by_method: dict[str, list[dict[str, Any]]] = {}
    train_lines = []
    for line in run.traces:
        if F.pick(line, F.KIND) == "train":
            train_lines.append(line)
        else:
            by_method.setdefault(F.pick(line, F.METHOD, "?"), []).append(line)
    view = RunView([], [], None)
    for method in list(reported) + [m for m in by_method if m not in reported]:
        shown = method if method not in taken else f"{run.name}/{method}"
        taken.add(shown)
        from_traces = method not in reported  # a run still going has no results.json yet
        summary = _summary_from_traces(by_method[method]) if from_traces else reported[method]
        view.methods.append(_method_entry(shown, method, run, summary, from_traces, compare_rows))
        for line in by_method.get(method, []):
            view.episodes.append({**episode_view(line, check), "method": shown})
    curves = _curves(run.metrics)
    if train_lines or curves:
        episodes = sorted((episode_view(line, check) for line in train_lines), key=lambda ep: ep["episode"] or 0)
        view.train = {
            "run": run.name,
            "methods": sorted({ep["method"] for ep in episodes}),
            "items": _items(episodes, lambda ep: f"episode {ep['episode']}"),
            "curves": curves,
        }
    return view


def _readable(read, path: Path, *args):
    """read(*args), a record of another shape (another econ version, a damaged file) as one line naming the run."""
    try:
        return read(*args)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:  # UnicodeDecodeError too
        raise ConfigError(
            f"RUN_DIR={path}: holds records this viewer cannot read ({type(error).__name__}: "
            f"{str(error)[:120]}); written by another econ version, or damaged?"
        ) from None


def page_data(target: Path) -> dict[str, Any]:
    """The page's data for a run dir, a comparison dir or a sweep dir (see the module docstring)."""
    target = readable_dir(target, "RUN_DIR", "give a run dir or a compare_methods --out dir")
    mode = "run" if is_run_dir(target) else "compare"
    run_paths = [target] if mode == "run" else compare_run_dirs(target)
    if not run_paths:
        raise ConfigError(
            f"RUN_DIR={target}: holds no results.json or traces.jsonl, nor run dirs in runs/*/ "
            "(compare_methods.py --out) or */ (a sweep); give a run dir"
        )
    runs = [_readable(read_run, p, p, p.name) for p in run_paths]
    compare_rows = {}
    if (target / "compare.csv").is_file():
        with (target / "compare.csv").open(newline="") as handle:
            compare_rows = {F.pick(row, F.COMPARE_METHOD): row for row in csv.DictReader(handle)}
    taken: set[str] = set()
    views = [_readable(_run_view, run.path, run, compare_rows, taken) for run in runs]
    methods = [m for view in views for m in view.methods]
    if compare_rows:  # the comparison table's order
        order = {name: i for i, name in enumerate(compare_rows)}
        methods.sort(key=lambda m: order.get(m["name"], len(order)))
    items = _items([ep for view in views for ep in view.episodes], lambda ep: ep["problem_id"])
    names = [m["name"] for m in methods]
    reference = "econ" if "econ" in names and len(names) > 1 else None
    for entry in methods:
        if reference and entry["name"] != reference:
            entry["paired"] = _paired(items, entry["name"], reference)
    first = runs[0].results
    dataset = F.pick(first, F.RESULTS_DATASET, "")
    return {
        "title": f"econ {mode if mode == 'run' else 'comparison'}: {target.name}"
        + (f" ({dataset}, {F.pick(first, F.RESULTS_MODEL, '')})" if dataset else ""),
        "mode": mode,
        "source": str(target.resolve()),
        "reference": reference,
        "runs": [_run_info(run) for run in runs],
        "methods": methods,
        "eval": {"methods": names, "items": items},
        "train": [view.train for view in views if view.train],
    }
