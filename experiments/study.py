"""Does ECON help? Train ECON, then every method on the same test problems, in one resumable command.

    python experiments/study.py --out outputs/study/svamp --dataset svamp --train-episodes 100 --limit 100 \\
        model=local model.path=$(../shared/tools/qwen05-gguf)

Stages (each skipped once its results exist; a killed stage resumes from its run dirs and the response
cache, so a study that does not finish in one sitting finishes in the next with no repeated LLM call):

1. train: `econ.train` on --train-episodes problems of the train split, with the shipped learner settings
   (those the bandit test showed to learn) and K training rounds = K inference rounds; no evaluation.
2. compare: `compare_methods.py --ckpt <train>/last.ckpt --own-settings` on --limit test problems, the same
   problems for every method: single, self_consistency and mad at ECON's calls per problem, mad at its own
   N x 2 rounds (and self_consistency at its own n), econ_no_bne, econ (K rounds), econ_fixed_action.
3. report: <out>/study.md: the comparison table, what the BNE rounds and the learned policy did, in
   training and after it (bne_rounds.py), what the critic said of it at each update and at the end
   (econ/learner/probe.py, critic_probe.py), what the intervals can and cannot tell apart at this n,
   each stage's wall time summed over sittings, and the machine's load while it ran (sampled from
   /proc/loadavg into load.csv).

On a machine that does not keep outputs/ between sittings, --record DIR (a directory in git, e.g.
experiments/studies/svamp) carries the study: at the end of a sitting that asked the LLM anything, even by
Ctrl-C, it receives the sitting's new responses (responses/sitting-NN.jsonl: cache keys, replies, token
counts, and each call's key apart from its sampling action, with that action), study_state.json,
load.csv and each compared method's per-problem rows; the next sitting restores them into a fresh --out,
replays training from the responses and goes on where it stopped. The replay asks the LLM nothing: each
call is served the recorded reply to the same request at an action within REPLAY_TOLERANCE of the
recorded one, since another CPU's kernels move the rebuilt policy's actions: by float noise in the
first episodes, by ~2e-3 in T after 100 (training compounds the noise); the texts, and so the rewards
and the training, are the recorded ones. A replay that
drifts further makes live calls and says so in its usage (calls > 0). A compared method's carried rows
are reused when its policy is the same bit for bit (same kind of CPU); otherwise they are played again,
from the recorded replies, in minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python experiments/study.py` from a checkout, installed or not

from econ.config.redaction import SECRET_KEY_PATTERN  # noqa: E402
from econ.errors import ConfigError  # noqa: E402
from econ.llm.cache import ResponseCache, read_dump  # noqa: E402
from econ.run.job import run_or_exit  # noqa: E402
from econ.run.writable import replace_text  # noqa: E402
from experiments import bne_rounds, compare_methods, critic_probe  # noqa: E402

LOAD_EVERY_S = 30.0
RESPONSES = "responses.sqlite"  # the study's own response cache, under --out
# |ΔT|, |Δp| within which a recorded reply serves a replayed call (llm.cache_tolerance): ~5× the drift of
# the SVAMP record's 100-episode policy rebuilt on another CPU (2.1e-3 in T), far below exploration's σ
REPLAY_TOLERANCE = 1e-2
STAGE_PRODUCTS = {"train": "train/last.ckpt", "compare": "compare/compare.csv"}
CARRIED = ("study_state.json", "load.csv", "compare/runs/*/results_*.jsonl")  # what --record keeps, besides responses
ROUND_METHODS = ("econ", "econ_fixed_action")  # the methods that play BNE rounds
TRAINING_BLOCK = 10  # training episodes per row of the report's policy-in-training table
Z_95, Z_80 = 1.96, 0.8416  # two-sided 5% test, 80% power


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/study/svamp"), help="study dir (re-running resumes)")
    parser.add_argument("--dataset", default="svamp", help="dataset config (conf/dataset/)")
    parser.add_argument("--train-episodes", type=int, default=100, help="training episodes (train problems)")
    parser.add_argument("--limit", type=int, default=100, help="test problems, the same for every method")
    parser.add_argument("--n-agents", type=int, default=3, help="ECON executors and MAD debaters")
    parser.add_argument("--rounds", type=int, default=3, help="ECON's K, in training and at inference")
    parser.add_argument(
        "--record", type=Path, default=None, help="dir (in git) that carries the study between machines"
    )
    parser.add_argument(
        "--so-far",
        action="store_true",
        help="run nothing: study.md from what is done (the trained policy, the compared methods that finished)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. model=local model.path=...")
    args = parser.parse_args(argv)
    for flag in ("train_episodes", "limit", "n_agents", "rounds"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag.replace('_', '-')}={getattr(args, flag)}: must be a positive integer")
    if args.record is not None and args.record.exists() and not args.record.is_dir():
        raise ConfigError(f"--record={args.record}: a file, not a directory; pass a directory")
    if args.record is not None and args.record.resolve().is_relative_to(args.out.resolve()):
        raise ConfigError(f"--record={args.record}: inside --out={args.out}; keep the record in git, apart from --out")
    for override in args.overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key == "llm.cache" or key.startswith("llm.cache_"):
            raise ConfigError(f"{key}: the study answers from its own cache (<out>/{RESPONSES}); drop the override")
        if SECRET_KEY_PATTERN.search(key):
            raise ConfigError(f"{key}: a secret on the command line would be saved with the study; set it in .env")
    if not (REPO / "conf" / "dataset" / f"{args.dataset}.yaml").is_file():
        raise ConfigError(f"--dataset={args.dataset}: no conf/dataset/{args.dataset}.yaml")
    return args


# ---------------------------------------------------------------- bookkeeping


def read_state(path: Path, settings: dict, place: str, fix: str) -> dict | None:
    """A study_state.json, if there is one, refused in one line when it is damaged or holds other settings."""
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
        stored = saved["settings"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a study state ({exc}); restore it from git or use a fresh --out") from None
    if stored != settings:
        changed = sorted(k for k in settings if stored.get(k) != settings[k])
        raise ConfigError(f"{place} holds a study with other {', '.join(changed)}; {fix}")
    return saved


def sittings(state: dict | None) -> int:
    return sum(stage["sittings"] for stage in (state or {}).get("stages", {}).values())


class StudyState:
    """study_state.json: the study's settings, each stage's wall time summed over sittings, whether it finished.

    A stage counts as done only while its product (a path under the study dir) exists: a state restored
    from a --record onto a fresh machine runs the stage again, from the carried responses.
    """

    def __init__(self, path: Path, settings: dict, products: dict[str, str] | None = None):
        self.path, self.settings = path, settings
        self.products = products or {}
        saved = read_state(path, settings, f"--out={path.parent}", "use a fresh --out or the same settings")
        self.stages: dict[str, dict] = saved["stages"] if saved else {}

    def done(self, stage: str) -> bool:
        product = self.products.get(stage)
        made = product is None or (self.path.parent / product).exists()
        return made and bool(self.stages.get(stage, {}).get("done"))

    def run(self, stage: str, work: Callable[[], None]) -> None:
        """Run a stage unless done; its wall time is added even when it fails or is interrupted."""
        if self.done(stage):
            print(f"study: {stage} done in an earlier sitting, skipped")
            return
        entry = self.stages.setdefault(stage, {"wall_s": 0.0, "sittings": 0, "done": False})
        entry["sittings"] += 1
        entry["done"] = False
        start = time.monotonic()
        try:
            work()
            entry["done"] = True
        finally:
            entry["wall_s"] += time.monotonic() - start
            self.save()

    def save(self) -> None:
        replace_text(self.path, json.dumps({"settings": self.settings, "stages": self.stages}, indent=2))


class LoadSampler:
    """Appends (unix time, stage, 1-minute load average) to load.csv every `every_s` seconds."""

    def __init__(self, path: Path, every_s: float = LOAD_EVERY_S):
        self.path, self.every_s = path, every_s
        self.stage = "start"
        self._lock = threading.Lock()  # the sampling thread and enter() both write
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def enter(self, stage: str) -> None:
        """Label the samples that follow with `stage`, and take one at once."""
        self.stage = stage
        self.sample()

    def sample(self) -> None:
        load1 = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "nan"
        with self._lock, self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if handle.tell() == 0:
                writer.writerow(["time", "stage", "load1"])
            writer.writerow([f"{time.time():.0f}", self.stage, load1])

    def _loop(self) -> None:
        self.sample()
        while not self._stop.wait(self.every_s):
            self.sample()


class StudyRecord:
    """--record: what carries a study to its next sitting on a machine that keeps no outputs/.

    Small text files only: no checkpoint (training is replayed from the responses), no model, no key.
    """

    def __init__(self, record: Path, out: Path, settings: dict):
        self.record, self.out, self.settings = record, out, settings
        self.responses = record / "responses"

    @staticmethod
    def _carried(root: Path) -> list[Path]:
        return sorted(path for pattern in CARRIED for path in root.glob(pattern) if path.is_file())

    def _dumps(self) -> list[Path]:
        return sorted(self.responses.glob("sitting-*.jsonl"))

    def restore(self) -> None:
        """Check the record, copy the carried files --out lacks, load every carried response into the cache."""
        fix = "use another --record or the same settings"
        carried = read_state(self.record / "study_state.json", self.settings, f"--record={self.record}", fix)
        local = read_state(self.out / "study_state.json", self.settings, f"--out={self.out}", fix)
        if local is not None and sittings(local) < sittings(carried):
            raise ConfigError(
                f"--out={self.out} is behind --record={self.record} ({sittings(local)} sittings against "
                f"{sittings(carried)}); move --out aside and re-run: the record restores it"
            )
        for path in self._carried(self.record):
            target = self.out / path.relative_to(self.record)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        cache = ResponseCache(self.out / RESPONSES)
        loaded = sum(cache.load(path) for path in self._dumps())
        cache.close()
        if loaded:
            print(f"study: {loaded} responses restored from {self.record}")

    def save(self) -> None:
        """Copy the carried files into the record, and the responses it lacks as the next sitting's file.

        Nothing is written when the sitting made no LLM call (a refused override, say): a record
        changes only with what was paid for.
        """
        earlier = self._dumps()
        carried = {entry[0] for path in earlier for entry in read_dump(path)}
        number = max((int(path.stem.split("-")[1]) for path in earlier), default=0) + 1
        self.responses.mkdir(parents=True, exist_ok=True)
        cache = ResponseCache(self.out / RESPONSES)
        added = cache.dump(self.responses / f"sitting-{number:02d}.jsonl", skip=carried)
        cache.close()
        if not added:
            return
        for path in self._carried(self.out):
            target = self.record / path.relative_to(self.out)
            target.parent.mkdir(parents=True, exist_ok=True)
            replace_text(target, path.read_text())
        print(f"study: record {self.record} updated ({added} new responses, {len(carried) + added} in all); commit it")


def load_summary(path: Path) -> dict[str, dict[str, float]]:
    """Per stage: samples, mean and max of the 1-minute load average."""
    if not path.exists():
        return {}
    by_stage: dict[str, list[float]] = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            if row["load1"] != "nan":
                by_stage.setdefault(row["stage"], []).append(float(row["load1"]))
    return {stage: {"samples": len(v), "mean": statistics.fmean(v), "max": max(v)} for stage, v in by_stage.items()}


# ---------------------------------------------------------------- stages


def own_cache(args: argparse.Namespace) -> list[str]:
    """Every run of the study answers from its own cache, last: what --record carries is this study alone.

    With a tolerance: on another machine the rebuilt policy's actions differ from the recorded ones
    (another CPU's kernels, compounded by training), so an exact key would miss every executor call.
    """
    return [
        compare_methods.path_override("llm.cache_path", args.out / RESPONSES),
        f"llm.cache_tolerance={REPLAY_TOLERANCE}",
    ]


def train_overrides(args: argparse.Namespace) -> list[str]:
    """econ.train on --train-episodes train problems, K rounds, no evaluation; user overrides, then the cache."""
    logger = [] if any(o.startswith("logger=") for o in args.overrides) else ["logger=csv"]
    return [
        f"dataset={args.dataset}",
        *logger,
        f"dataset.limit={args.train_episodes}",
        f"learner.max_episodes={args.train_episodes}",
        f"agents.n_agents={args.n_agents}",
        f"bne.max_iterations_infer={args.rounds}",
        "eval_methods=[]",
        "optimized_metric=null",
        *args.overrides,
        *own_cache(args),
    ]


def compare_argv(args: argparse.Namespace, ckpt: Path) -> list[str]:
    return [
        "--out",
        str(args.out / "compare"),
        "--limit",
        str(args.limit),
        "--n-agents",
        str(args.n_agents),
        "--rounds",
        str(args.rounds),
        "--ckpt",
        str(ckpt),
        "--budget",
        "calls",
        "--own-settings",
        "--no-scaling",
        f"dataset={args.dataset}",
        *args.overrides,
        *own_cache(args),
    ]


# ---------------------------------------------------------------- report


def detectable_difference(n: int, discordant_share: float) -> float:
    """The paired accuracy difference a two-sided 5% McNemar test detects with 80% power at this n.

    Normal approximation: the difference's standard error under no effect is sqrt(d / n), d the share of
    problems only one method solved.
    """
    return (Z_95 + Z_80) * math.sqrt(max(discordant_share, 1 / n) / n)


def verdicts(rows: list[dict]) -> list[str]:
    """One plain sentence per method about its paired difference with econ."""
    out = []
    for row in rows:
        if row["vs_econ_diff"] is None or row["vs_econ_diff"] == "":
            continue
        diff, low, high = (float(row[k]) for k in ("vs_econ_diff", "vs_econ_ci_low", "vs_econ_ci_high"))
        n = int(row["n"])
        discordant = (int(row["only_this_solved"]) + int(row["only_econ_solved"])) / n
        mde = detectable_difference(n, discordant)
        reach = (
            f"only a difference of about {100 * mde:.0f} pp or more would be detected with 80% power"
            if mde < 1
            else "no difference could be detected with 80% power"
        )
        if low > 0:
            word = "beats econ"
        elif high < 0:
            word = "loses to econ"
        else:
            word = "is not told apart from econ"
        out.append(
            f"- **{row['label']}** {word}: {100 * diff:+.1f} pp [{100 * low:+.1f}, {100 * high:+.1f}], "
            f"McNemar p = {float(row['vs_econ_mcnemar_p']):.2g}; {discordant:.0%} of problems were solved by "
            f"only one of the two, so at n = {n} {reach}."
        )
    return out


def protocol_table(rows: list[dict]) -> list[str]:
    """What each method's protocol did: JSON commitments, rounds, fixed points, stop reasons, BR gap."""

    def cell(row: dict, key: str, spec: str) -> str:
        value = row.get(key)
        return "–" if value in (None, "", "None") else format(float(value), spec)

    lines = [
        "| method | JSON commitment rate | mean rounds | converged | stop reasons | best-response gap ε |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        stops = row.get("stop_reasons") or ""
        stops = "–" if not stops else ", ".join(f"{k} {v}" for k, v in json.loads(stops).items())
        lines.append(
            f"| {row['label']} | {cell(row, 'commitment_json_rate', '.1%')} | {cell(row, 'mean_rounds', '.2f')} "
            f"| {cell(row, 'converged_rate', '.1%')} | {stops} | {cell(row, 'best_response_gap', '.4f')} |"
        )
    return lines


def read_compare_rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def write_report(args: argparse.Namespace, state: StudyState, command: str, so_far: bool = False) -> Path:
    """study.md from the runs' files: every number is read, none recomputed from memory."""
    compare_dir = args.out / "compare"
    rows = read_compare_rows(compare_dir / "compare.csv")
    by_run = {row["run"]: row for row in rows}
    round_tables, by_method = [], {}
    for method in ROUND_METHODS:
        if method not in by_run:
            continue
        run_dir = Path(by_run[method]["results_json"]).parent
        records, kind = bne_rounds.episodes(run_dir, method)
        by_method[method] = bne_rounds.round_rows(records, kind)
        round_tables.append(bne_rounds.markdown(method, by_method[method], bne_rounds.per_agent_round0(records)))
    if by_method:
        bne_rounds.plot_accuracy_by_round(
            by_method,
            args.out / "accuracy_by_round.png",
            f"{args.dataset}: accuracy by BNE round, {args.limit} problems",
        )
    loads = load_summary(args.out / "load.csv")
    stages = [
        f"| {name} | {entry['wall_s'] / 60:.1f} | {entry['sittings']} | {'yes' if entry['done'] else 'no'} "
        f"| {loads.get(name, {}).get('mean', float('nan')):.2f} | {loads.get(name, {}).get('max', float('nan')):.2f} |"
        for name, entry in state.stages.items()
    ]
    train_results = json.loads((args.out / "train" / "results.json").read_text())
    lines = [
        f"# Study: {args.dataset}, {args.limit} test problems, N = {args.n_agents}, K = {args.rounds}",
        "",
        f"Command: `{command}`",
        "",
        *(
            [f"**So far**: the comparison is not done; the tables hold the {len(rows)} runs that finished.", ""]
            if so_far
            else []
        ),
        (
            f"ECON trained for {train_results.get('train_episodes')} episodes ({train_results.get('updates')} updates), "
            f"final α (AL, TS, CC) = {[round(a, 3) for a in train_results.get('alpha', [])]}."
        ),
        "",
        "| stage | wall (min, all sittings) | sittings | done | load1 mean | load1 max |",
        "|---|---|---|---|---|---|",
        *stages,
        "",
        (compare_dir / "compare.md").read_text(),
        "",
        "## What each protocol did",
        "",
        "Baselines end in a vote (single: one answer), so JSON rate and rounds apply to ECON's methods only.",
        "",
        *protocol_table(rows),
        "",
        "## What the paired intervals say",
        "",
        *verdicts(rows),
        "",
        "## The BNE rounds and the learned policy",
        "",
        bne_rounds.training_markdown(bne_rounds.training_rows(args.out / "train" / "traces.jsonl", TRAINING_BLOCK)),
        "",
        bne_rounds.updates_markdown(bne_rounds.update_rows(args.out / "train" / "metrics.csv")),
        "",
        critic_probe.markdown(critic_probe.probe_checkpoint(args.out / STAGE_PRODUCTS["train"])),
        "",
        "\n\n".join(round_tables),
        "",
        "Plots: `compare/accuracy_vs_tokens.png`, `accuracy_by_round.png`.",
        "",
    ]
    path = args.out / "study.md"
    path.write_text("\n".join(lines))
    return path


def report_so_far(args: argparse.Namespace, state: StudyState, ckpt: Path, command: str) -> None:
    """--so-far: study.md over the trained policy and the compared methods that have finished; no LLM call."""
    if not state.done("train"):
        raise ConfigError(f"--so-far: {args.out} has no trained policy yet ({ckpt}); run the study first")
    open_compare = not state.done("compare")  # before the table-only run writes compare.csv, its product
    compare_methods.main([*compare_argv(args, ckpt), "--table-only"])
    report = write_report(args, state, command, so_far=open_compare)
    print(report.read_text())
    print(f"study so far written to {report}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python experiments/study.py " + " ".join(argv if argv is not None else sys.argv[1:])
    settings = {k: getattr(args, k) for k in ("dataset", "train_episodes", "limit", "n_agents", "rounds", "overrides")}
    record = StudyRecord(args.record.resolve(), args.out, settings) if args.record is not None else None
    if record is not None:
        record.restore()
    state = StudyState(args.out / "study_state.json", settings, STAGE_PRODUCTS)
    ckpt = args.out / STAGE_PRODUCTS["train"]
    if args.so_far:
        report_so_far(args, state, ckpt, command)
        return
    try:
        with LoadSampler(args.out / "load.csv") as load:
            load.enter("train")
            train = args.out / "train"
            state.run("train", lambda: compare_methods.run_entry("econ.train", train_overrides(args), train))
            load.enter("compare")
            state.run("compare", lambda: compare_methods.main(compare_argv(args, ckpt)))
            load.sample()
    finally:
        if record is not None:
            record.save()
    report = write_report(args, state, command)
    print(report.read_text())
    print(f"study written to {report}")


if __name__ == "__main__":
    run_or_exit(main)
