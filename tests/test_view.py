"""The run viewer's data: built from real run dirs (econ.train, econ.evaluate) made on the loopback server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from econ.devtools import forkrun
from econ.devtools.arithmetic import write_addition_problems
from econ.devtools.loopback import LoopbackServer
from econ.devtools.runs import loopback_overrides
from econ.run.jsonl import read_jsonl
from econ.view.page import read_embedded, render
from econ.view.runs import page_data
from experiments import compare_methods

REPO = Path(__file__).resolve().parents[1]
_QUESTION = re.compile(r"What is (\d+) \+ (\d+)\?")
_LISTED = re.compile(r"final answer ([^;]+);")
BEHAVIOURS = ("change", "overrule", "unparsable", "leak")  # of test problems 0..3, in file order
SMALL = ["agents.n_agents=3", "agents.belief_dim=16", "agents.entity_dim=32", "agents.n_blocks=1"]


class ScriptedTeam:
    """Right answers, except on the test problems given a behaviour (keyed by their two addends).

    change: every solver is off by one in round 0 and right afterwards (so BNE rounds fix the answer);
    overrule: the solvers are right and the coordinator commits to 0 anyway;
    unparsable: no solver states a number in round 0, and the coordinator then replies without JSON;
    leak: the strategy states the sum.
    """

    def __init__(self, behaviours: dict[tuple[int, int], str]):
        self.behaviours = behaviours

    def __call__(self, request: dict) -> str:
        last = request["messages"][-1]["content"]
        a, b = map(int, _QUESTION.search(last).groups())  # every prompt holds the fenced problem
        behaviour = self.behaviours.get((a, b))
        if "Write a short strategy" in last:
            return f"Add them to get {a + b}." if behaviour == "leak" else "Add the two quantities."
        if "json" in last.lower():
            listed = [x for x in _LISTED.findall(last.split("</problem>", 1)[-1]) if x != "(none)"]
            if not listed:
                return "I cannot decide."
            answer = "0" if behaviour == "overrule" else max(set(listed), key=listed.count)
            return json.dumps({"answer": answer, "justification": "Most solvers agree."})
        first_round = "Your previous answer" not in last
        if behaviour == "unparsable" and first_round:
            return "I cannot tell."
        total = a + b + (1 if behaviour == "change" and first_round else 0)
        return f"{a} plus {b} makes {total}. \\boxed{{{total}}}"


@dataclass
class ViewRuns:
    """A training run (econ_no_bne and econ evaluated), a MAD run, and both laid out as a comparison."""

    econ: Path  # compare/runs/econ
    mad: Path  # compare/runs/mad
    compare: Path
    hierarchical: Path  # econ alone, 4 executors in 2 groups, untrained
    questions: dict[str, str]  # behaviour -> question text


_BUILT: dict[str, ViewRuns] = {}


def _run(module: str, args: list[str], root: Path, name: str, env: dict[str, str]) -> None:
    done = forkrun.run(module, args, out_dir=root / "logs", env=env, cwd=REPO, name=name)
    assert done.returncode == 0, done.stderr[-3000:]


def build_runs(root: Path) -> ViewRuns:
    """Real runs on the loopback server, made once per test session (the browser tests share them)."""
    if "runs" in _BUILT:
        return _BUILT["runs"]
    data = write_addition_problems(root / "data", n_train=3, n_test=4, seed=7)
    tests = [json.loads(line)["question"] for line in Path(data.format(split="test")).read_text().splitlines()]
    behaviours = {tuple(map(int, _QUESTION.search(q).groups())): b for q, b in zip(tests, BEHAVIOURS)}
    env = {**os.environ, "ECON_CACHE_DIR": str(root / "cache"), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    compare = root / "compare"
    with LoopbackServer(responder=ScriptedTeam(behaviours)) as server:
        shared = [*loopback_overrides(server.base_url), *SMALL, "dataset=custom", f"dataset.path='{data}'"]
        _run(
            "econ.train",
            [
                *shared,
                "logger=csv",
                "learner.update_interval=2",
                "learner.batch_size=2",
                "bne.max_iterations_infer=2",
                "bne.threshold=1e-9",  # every problem plays both rounds
                f"hydra.run.dir={compare / 'runs' / 'econ'}",
            ],
            root,
            "train",
            env,
        )
        _run(
            "econ.evaluate",
            [*shared, "method=mad", "method.rounds=2", f"hydra.run.dir={compare / 'runs' / 'mad'}"],
            root,
            "mad",
            env,
        )
        _run(
            "econ.train",
            [
                *shared,
                "logger=csv",
                "learner.max_episodes=0",
                "eval_methods=[econ]",
                "agents.n_agents=4",
                "agents.group_size=2",
                "bne.max_iterations_infer=2",
                f"hydra.run.dir={root / 'hierarchical'}",
            ],
            root,
            "hierarchical",
            env,
        )
    rows = [
        compare_methods.read_row(m, compare / "runs" / run / "results.json", untrained=False)
        for m, run in (("econ_no_bne", "econ"), ("econ", "econ"), ("mad", "mad"))
    ]
    compare_methods.write_csv(rows, compare / "compare.csv")
    _BUILT["runs"] = ViewRuns(
        compare / "runs" / "econ",
        compare / "runs" / "mad",
        compare,
        root / "hierarchical",
        dict(zip(BEHAVIOURS, tests)),
    )
    return _BUILT["runs"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> ViewRuns:
    return build_runs(tmp_path_factory.getbasetemp() / "view_runs")


def by_question(data: dict, question: str) -> dict:
    return next(item for item in data["eval"]["items"] if item["question"] == question)


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def rewrite_traces(run_dir: Path, change) -> None:
    lines = [change(line) for line in read_jsonl(run_dir / "traces.jsonl")]
    (run_dir / "traces.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


# ---------------------------------------------------------------- what the page holds


def test_page_holds_every_evaluated_problem_with_rounds_of_executors(runs):
    data = page_data(runs.econ)
    logged = {r["problem_id"] for r in read_jsonl(runs.econ / "results_econ.jsonl")}
    assert {item["id"] for item in data["eval"]["items"]} == logged and len(logged) == 4
    assert data["eval"]["methods"] == ["econ_no_bne", "econ"]
    for item in data["eval"]["items"]:
        econ = item["eps"]["econ"]
        assert [r["round"] for r in econ["rounds"]] == [0, 1]
        for record in econ["rounds"]:
            assert [e["agent"] for e in record["executors"]] == [0, 1, 2]
            for e in record["executors"]:
                assert 0 < e["T"] and 0 < e["p"] < 1
                call = econ["calls"][e["call"]]  # the executor's own call: its full text and tokens
                assert (call["role"], call["round"], call["agent"]) == ("executor", record["round"], e["agent"])
                assert call["tokens"][1] > 0
            assert econ["calls"][record["calls"][-1]]["role"] == "commitment"
        assert item["question"].startswith("Ann has") and item["gold"] == econ["gold"]


def test_call_texts_are_the_traces_texts(runs):
    data = page_data(runs.econ)
    traced = {(t["method"], t["problem_id"]): t for t in read_jsonl(runs.econ / "traces.jsonl") if t["kind"] == "eval"}
    for item in data["eval"]["items"]:
        for method, ep in item["eps"].items():
            calls = traced[(method, item["id"])]["calls"]
            assert [c["text"] for c in ep["calls"]] == [c["text"] for c in calls]
            assert [m for c in ep["calls"] for m in c["messages"]] == [
                [m["role"], m["content"]] for c in calls for m in c["messages"]
            ]


def test_flags_say_what_the_team_did(runs):
    data = page_data(runs.econ)
    flags = {b: by_question(data, q)["eps"]["econ"]["flags"] for b, q in runs.questions.items()}
    assert flags["change"]["changed"] and flags["change"]["correct"] and not flags["change"]["overruled"]
    assert flags["overrule"]["overruled"] and flags["overrule"]["wrong"]
    assert flags["unparsable"]["unparsable"] and flags["unparsable"]["changed"]
    assert flags["leak"]["leak"] and flags["leak"]["correct"] and not flags["leak"]["changed"]
    assert not any(f["leak"] for b, f in flags.items() if b != "leak")
    assert [b for b, f in flags.items() if f["wrong"]] == ["overrule"]


def test_commitment_source_majority_and_answer_correctness_per_round(runs):
    data = page_data(runs.econ)
    overruled = by_question(data, runs.questions["overrule"])["eps"]["econ"]["rounds"][0]
    assert overruled["commitment"] == "0" and overruled["source"] == "json" and overruled["overruled"]
    assert all(e["correct"] for e in overruled["executors"]) and not overruled["commitment_correct"]
    assert overruled["majority"] == by_question(data, runs.questions["overrule"])["gold"]
    blank = by_question(data, runs.questions["unparsable"])["eps"]["econ"]["rounds"]
    assert [e["answer"] for e in blank[0]["executors"]] == [None, None, None]
    assert blank[0]["source"] == "fallback" and blank[0]["commitment"] is None
    assert blank[1]["commitment_correct"] and blank[1]["source"] == "json"
    changed = by_question(data, runs.questions["change"])["eps"]["econ"]["rounds"]
    assert [r["commitment_correct"] for r in changed] == [False, True]
    assert all(r["residual"] is not None for r in changed)  # every round: how far the policy would move next


def test_results_table_and_config_are_the_runs_own(runs):
    data = page_data(runs.econ)
    results = json.loads((runs.econ / "results.json").read_text())
    for entry in data["methods"]:
        reported = results["methods"][entry["name"]]
        assert entry["columns"]["accuracy"] == reported["accuracy"]
        assert entry["columns"]["accuracy_ci95"] == reported["accuracy_ci95"]
        assert entry["columns"]["tokens_per_problem"] == reported["tokens_per_problem"]
        assert not entry["from_traces"]
    assert data["runs"][0]["config_text"] == (runs.econ / "config_resolved.yaml").read_text()
    run = data["runs"][0]
    assert run["split"] == "test" and run["usage"]["calls"] == results["usage"]["total"]["calls"]


def test_training_run_shows_each_episode_and_the_alpha_and_loss_curves(runs):
    data = page_data(runs.econ)
    (train,) = data["train"]
    assert [item["id"] for item in train["items"]] == ["episode 1", "episode 2", "episode 3"]
    assert all(item["eps"]["train"]["rounds"] for item in train["items"])
    assert {"alpha/al", "alpha/ts", "alpha/cc", "train/correct", "loss/loss"} <= set(train["curves"])
    rows = [line.split(",") for line in (runs.econ / "metrics.csv").read_text().splitlines()[1:]]
    alpha = [[float(step), float(value)] for step, metric, value in rows if metric == "alpha/al"]
    assert train["curves"]["alpha/al"] == alpha and len(alpha) == 3
    assert not any(m.startswith("test/") for m in train["curves"])


def test_baseline_rounds_are_majority_votes_in_the_same_shape(runs):
    data = page_data(runs.mad)
    assert data["eval"]["methods"] == ["mad"] and data["train"] == []
    changed = by_question(data, runs.questions["change"])["eps"]["mad"]
    assert len(changed["rounds"]) == 2 and all(len(r["executors"]) == 3 for r in changed["rounds"])
    assert {r["source"] for r in changed["rounds"]} == {"majority"} and changed["flags"]["changed"]
    assert all(r["calls"] == [] for r in changed["rounds"])  # no coordinator call behind a vote
    assert changed["calls"][changed["rounds"][1]["executors"][2]["call"]]["agent"] == 2


def test_comparison_puts_each_problem_side_by_side_in_the_tables_order(runs):
    data = page_data(runs.compare)
    assert data["mode"] == "compare" and [r["name"] for r in data["runs"]] == ["econ", "mad"]
    assert data["eval"]["methods"] == ["econ_no_bne", "econ", "mad"]  # compare.csv's order
    assert all(set(item["eps"]) == {"econ_no_bne", "econ", "mad"} for item in data["eval"]["items"])
    assert len(data["eval"]["items"]) == 4 and data["reference"] == "econ"
    mad = next(m for m in data["methods"] if m["name"] == "mad")
    econ_right = {item["id"] for item in data["eval"]["items"] if item["eps"]["econ"]["correct"]}
    mad_right = {item["id"] for item in data["eval"]["items"] if item["eps"]["mad"]["correct"]}
    # the same paired statistics as results.json's vs_econ (bootstrap interval, McNemar p), not bare counts
    paired = mad["paired"]
    assert paired["reference"] == "econ" and paired["n"] == 4
    assert paired["a_only"] == len(mad_right - econ_right) and paired["b_only"] == len(econ_right - mad_right)
    assert paired["difference"] == pytest.approx((len(mad_right) - len(econ_right)) / 4)
    assert paired["ci95"][0] <= paired["difference"] <= paired["ci95"][1] and 0 <= paired["mcnemar_p"] <= 1
    assert mad["label"] == "mad" and mad["budget"]


def test_hierarchical_rounds_show_groups_and_the_root_commitment(runs):
    data = page_data(runs.hierarchical)
    ep = data["eval"]["items"][0]["eps"]["econ"]
    assert ep["strategy"].startswith("Group 1:") and data["train"] == []
    for record in ep["rounds"]:
        assert [e["group"] for e in record["executors"]] == [0, 0, 1, 1]
        roles = [ep["calls"][i]["role"] for i in record["calls"]]
        assert roles.count("local_commitment") == 2 and len(record["levels"]) >= 2
        root = ep["calls"][record["commitment_call"]]
        assert root["round"] == record["round"]
        assert root["level"] == max(ep["calls"][i]["level"] for i in record["calls"])


def test_a_sweep_dir_of_runs_shows_each_runs_methods_apart(runs, tmp_path):
    sweep = tmp_path / "sweep"
    copy_run(runs.econ, sweep / "0_n_agents=3")
    copy_run(runs.econ, sweep / "1_n_agents=3_again")
    data = page_data(sweep)
    assert data["mode"] == "compare"
    assert data["eval"]["methods"] == [
        "econ_no_bne",
        "econ",
        "1_n_agents=3_again/econ_no_bne",
        "1_n_agents=3_again/econ",
    ]
    assert all(len(item["eps"]) == 4 for item in data["eval"]["items"]) and len(data["train"]) == 2


# ---------------------------------------------------------------- older and newer runs


def test_fields_other_engineers_add_are_carried_to_the_page(runs, tmp_path):
    run = copy_run(runs.econ, tmp_path / "newer")

    def newer(line):
        for k, record in enumerate(line["rounds"]):
            last = k == len(line["rounds"]) - 1
            record.update(
                commitment_changed=None if k == 0 else True,
                best_response_gap=[0.1, 0.25, 0.05],
                stop_reason="max_rounds" if last else None,
                reward_terms=[[1.0, 0.5, 0.0]] * 3,
            )
        return {**line, "stop_reason": "max_rounds", "cost_usd": 0.002}

    rewrite_traces(run, newer)
    results = json.loads((run / "results.json").read_text())
    results["methods"]["econ"].update(
        best_response_gap=0.25,
        stop_reasons={"fixed_point": 1, "max_rounds": 3},
        sampling={"T": {"mean": 1.2}},
        cost_usd=0.01,
        brand_new_metric=7,
    )
    (run / "results.json").write_text(json.dumps(results))
    data = page_data(run)
    econ = next(m for m in data["methods"] if m["name"] == "econ")
    assert econ["columns"]["best_response_gap"] == 0.25 and econ["columns"]["cost_usd"] == 0.01
    assert econ["columns"]["stop_reasons"] == {"fixed_point": 1, "max_rounds": 3}
    assert econ["other"] == {"brand_new_metric": 7}  # a field the viewer does not know yet is still shown
    ep = data["eval"]["items"][0]["eps"]["econ"]
    assert ep["stop_reason"] == "max_rounds" and ep["cost_usd"] == 0.002
    last = ep["rounds"][-1]
    assert last["commitment_changed"] is True and last["stop_reason"] == "max_rounds" and last["br_gap"] == 0.25
    assert [e["br_gap"] for e in last["executors"]] == [0.1, 0.25, 0.05]
    assert ep["rounds"][0]["commitment_changed"] is None


def test_older_runs_without_optional_fields_still_read(runs, tmp_path):
    run = copy_run(runs.econ, tmp_path / "older")

    def older(line):
        for record in line["rounds"]:
            for key in ("residual", "groups", "commitment_levels", "belief_norms"):
                record.pop(key, None)
        return {k: v for k, v in line.items() if k not in ("calls", "cache_hits", "wall_s", "reward_terms")}

    rewrite_traces(run, older)
    data = page_data(run)
    ep = data["eval"]["items"][0]["eps"]["econ"]
    assert ep["calls"] == [] and data["eval"]["items"][0]["question"] is None  # the question is read from prompts
    assert all(e["call"] is None and e["belief_norm"] is None for r in ep["rounds"] for e in r["executors"])
    assert ep["rounds"][1]["residual"] is None and ep["wall_s"] is None


def test_a_method_missing_from_results_json_is_summarised_from_its_traces(runs, tmp_path):
    run = copy_run(runs.econ, tmp_path / "running")
    (run / "results.json").unlink()  # a run still evaluating has written no results.json yet
    data = page_data(run)
    econ = next(m for m in data["methods"] if m["name"] == "econ")
    right = [r["correct"] for r in read_jsonl(runs.econ / "results_econ.jsonl")]
    assert econ["from_traces"] and econ["columns"]["accuracy"] == sum(right) / len(right)
    assert econ["columns"]["n"] == 4 and econ["columns"]["mean_rounds"] == 2.0


def test_an_episode_logged_twice_shows_once_with_its_latest_record(runs, tmp_path):
    run = copy_run(runs.econ, tmp_path / "resumed")
    lines = list(read_jsonl(run / "traces.jsonl"))
    again = {**lines[-1], "final_answer": "again"}
    with (run / "traces.jsonl").open("a") as handle:
        handle.write(json.dumps(again) + "\n" + '{"kind": "ev')  # a torn last line, as after kill -9
    data = page_data(run)
    assert len(data["eval"]["items"]) == 4
    assert data["eval"]["items"][-1]["eps"][again["method"]]["final"] == "again"


# ---------------------------------------------------------------- the file


def test_page_is_one_file_that_fetches_nothing(runs):
    page = render(page_data(runs.compare)).replace('"http://www.w3.org/2000/svg"', "")  # a name, not a fetch
    assert not re.search(r"<(link|img|iframe)\b|<script[^>]*\bsrc=|@import|url\(|https?://", page, re.IGNORECASE)
    assert read_embedded(page)["eval"]["methods"] == ["econ_no_bne", "econ", "mad"]


def test_text_from_a_run_cannot_close_the_pages_script(runs, tmp_path):
    run = copy_run(runs.mad, tmp_path / "hostile")
    rewrite_traces(
        run,
        lambda line: {**line, "calls": [{**c, "text": "</script><script>alert(1)</script>"} for c in line["calls"]]},
    )
    page = render(page_data(run))
    assert "alert(1)" not in page
    assert read_embedded(page)["eval"]["items"][0]["eps"]["mad"]["calls"][0]["text"].startswith("</script>")


def view(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "econ.view", *args], check=False, capture_output=True, text=True, cwd=REPO
    )


def test_command_writes_report_html_and_prints_its_path(runs, tmp_path):
    run = copy_run(runs.mad, tmp_path / "run")
    done = view(str(run))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str((run / "report.html").resolve())
    assert read_embedded((run / "report.html").read_text())["mode"] == "run"
    out = tmp_path / "pages" / "mad.html"
    done = view(str(run), "--out", str(out))
    assert done.returncode == 0 and out.is_file()


def test_command_refuses_a_dir_that_is_no_run_in_one_line(tmp_path):
    for path in (tmp_path / "missing", tmp_path):
        done = view(str(path))
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith(f"error: RUN_DIR={path}:")


def test_serve_answers_with_the_page_on_localhost(runs, tmp_path):
    run = copy_run(runs.mad, tmp_path / "served")
    server = subprocess.Popen(
        [sys.executable, "-m", "econ.view", str(run), "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert server.stdout.readline().strip() == str((run / "report.html").resolve())
        url = re.search(r"http://127\.0\.0\.1:\d+/report\.html", server.stdout.readline()).group(0)
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.read().decode() == (run / "report.html").read_text()
        with pytest.raises(urllib.error.HTTPError, match="404"):  # only the page, not the run dir beside it
            urllib.request.urlopen(url.replace("report.html", "traces.jsonl"), timeout=10)
    finally:
        server.terminate()
        server.wait(10)
