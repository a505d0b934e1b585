"""The study command: train-only runs, the BNE-round table, plain verdicts, resumable stages, end to end."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import threading
import time
import warnings
from pathlib import Path

import pytest

from econ.devtools import forkrun
from econ.devtools.arithmetic import addition_responder, write_addition_problems
from econ.devtools.loopback import LoopbackServer
from econ.devtools.runs import loopback_overrides
from econ.errors import ConfigError, EconError
from econ.eval.report import check_metric
from econ.llm.base import Completion
from econ.llm.cache import ResponseCache, SampledCall
from econ.run.jsonl import read_jsonl
from experiments import bne_rounds, study

TINY = [
    "agents.belief_dim=16",
    "agents.entity_dim=32",
    "agents.n_blocks=1",
    "learner.update_interval=1",
    "learner.batch_size=2",
]


def test_train_with_no_eval_methods_trains_checkpoints_and_evaluates_nothing(tmp_path):
    data = write_addition_problems(tmp_path / "data", n_train=2, n_test=2, seed=3)
    with LoopbackServer(responder=addition_responder) as server:
        args = [
            *loopback_overrides(server.base_url),
            *TINY,
            "agents.n_agents=2",
            "logger=csv",
            "dataset=custom",
            f"dataset.path='{data}'",
            "learner.max_episodes=2",
            "eval_methods=[]",
            "optimized_metric=null",
            f"hydra.run.dir={tmp_path / 'run'}",
        ]
        run = forkrun.run(
            "econ.train",
            args,
            out_dir=tmp_path,
            name="train",
            env={**os.environ, "ECON_CACHE_DIR": str(tmp_path / "cache")},
        )
    assert run.returncode == 0, run.stderr[-2000:]
    run_dir = tmp_path / "run"
    assert (run_dir / "last.ckpt").exists() and not list(run_dir.glob("results_*.jsonl"))
    results = json.loads((run_dir / "results.json").read_text())
    assert results["methods"] == {} and results["train_episodes"] == 2
    assert {r["kind"] for r in read_jsonl(run_dir / "traces.jsonl")} == {"train"}


def test_an_objective_with_nothing_evaluated_is_refused_in_one_line_naming_the_fix():
    with pytest.raises(
        ConfigError, match=r"^optimized_metric=econ/accuracy: eval_methods is empty; set optimized_metric=null"
    ):
        check_metric("econ/accuracy", [])


def record(pid: str, gold: str, rounds: list[tuple[str, list[list[float]], bool | None]]) -> dict:
    return {
        "problem_id": pid,
        "gold": gold,
        "rounds": [
            {"commitment": answer, "actions": actions, "commitment_changed": changed}
            for answer, actions, changed in rounds
        ],
    }


def test_round_table_holds_a_stopped_problems_last_commitment_and_measures_the_actions():
    records = [
        record("a", "5", [("4", [[0.5, 0.2], [0.7, 0.2]], None), ("5", [[0.9, 0.2], [0.7, 0.4]], True)]),
        record("b", "3", [("3", [[1.0, 0.6], [1.0, 0.6]], None)]),  # stopped after round 0
    ]
    first, second = bne_rounds.round_rows(records, "numeric")
    assert (first.problems, first.accuracy, first.commitment_changed, first.T_change) == (2, 0.5, None, None)
    assert first.T_mean == pytest.approx((0.6 + 1.0) / 2) and first.T_across_problems == pytest.approx(0.2)
    # round 1: a's new commitment is right and b keeps its right round-0 answer, though it did not play
    assert (second.problems, second.played_share, second.accuracy, second.commitment_changed) == (1, 0.5, 1.0, 1.0)
    assert second.T_change == pytest.approx((0.4 + 0.0) / 2) and second.p_change == pytest.approx((0.0 + 0.2) / 2)
    agents = bne_rounds.per_agent_round0(records)
    assert agents[0]["T_mean"] == pytest.approx(0.75) and agents[0]["T_std"] == pytest.approx(0.25)
    text = bne_rounds.markdown("econ", [first, second], agents)
    assert "| 1 | 1 (50%) | 100% | 100.0%" in text


def test_training_table_reads_each_episode_once_by_blocks_and_skips_evaluation_records(tmp_path):
    def episode(n: int, correct: bool, actions: list[list[float]], rounds: int = 1) -> dict:
        return {"kind": "train", "episode": n, "correct": correct, "rounds": [{"actions": actions}] * rounds}

    traces = tmp_path / "traces.jsonl"
    lines = [
        episode(1, False, [[0.4, 0.1], [0.6, 0.1]]),
        episode(1, True, [[0.6, 0.3], [0.8, 0.3]], rounds=3),  # resumed: the last record stands
        episode(2, False, [[1.0, 0.5], [1.0, 0.5]]),
        {"kind": "eval", "episode": 2, "correct": True, "rounds": [{"actions": [[9.0, 9.0]]}]},
        episode(3, True, [[1.5, 0.8], [1.5, 0.8]], rounds=2),
    ]
    traces.write_text("".join(json.dumps(line) + "\n" for line in lines))
    first, second = bne_rounds.training_rows(traces, block=2)
    assert (first.first_episode, first.last_episode, first.accuracy, first.mean_rounds) == (1, 2, 0.5, 2.0)
    assert first.T_mean == pytest.approx((0.7 + 1.0) / 2) and first.T_across_problems == pytest.approx(0.15)
    assert first.p_mean == pytest.approx(0.4) and first.p_across_problems == pytest.approx(0.1)
    assert (second.first_episode, second.last_episode, second.accuracy, second.T_mean) == (3, 3, 1.0, 1.5)
    assert "| 1–2 | 50% | 2.00 | 0.850 | 0.150 | 0.400 | 0.100 |" in bne_rounds.training_markdown([first, second])


def test_update_table_reads_each_updates_last_probe_and_says_when_a_run_logged_none(tmp_path):
    metrics = tmp_path / "metrics.csv"
    metrics.write_text(
        "step,metric,value\n"
        "10,train/correct,1.0\n"
        "10,probe/policy_T,0.9\n"
        "10,probe/dT_policy_step,0.05\n"
        "10,probe/raises_T,1.0\n"
        "10,probe/policy_T,0.8\n"  # a resumed run appends: the last value stands
        "20,probe/dT_pol\r\n"  # torn by a kill; the resumed run went on after it
        "20,probe/policy_T,1.1\n"
    )
    first, second = bne_rounds.update_rows(metrics)
    assert first == {"episode": 10, "policy_T": 0.8, "dT_policy_step": 0.05, "raises_T": 1.0}
    assert second == {"episode": 20, "policy_T": 1.1}
    text = bne_rounds.updates_markdown([first, second])
    assert "| 10 | 0.800 | – | 100% | +0.050 | – |" in text and "| 20 | 1.100 | – | – |" in text
    assert bne_rounds.update_rows(tmp_path / "absent.csv") == []
    assert bne_rounds.updates_markdown([]).startswith("No `probe/*` metrics")


def test_round_table_of_a_dir_without_results_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^RUN_DIR=.*: no results.json; pass a finished run dir"):
        bne_rounds.episodes(tmp_path, "econ")


def row(label: str, diff: float, low: float, high: float, a_only: int, b_only: int, n: int = 100) -> dict:
    return {
        "label": label,
        "n": str(n),
        "vs_econ_diff": str(diff),
        "vs_econ_ci_low": str(low),
        "vs_econ_ci_high": str(high),
        "vs_econ_mcnemar_p": "0.04",
        "only_this_solved": str(a_only),
        "only_econ_solved": str(b_only),
    }


def test_verdicts_say_when_the_interval_cannot_tell_methods_apart_and_what_n_could():
    lines = study.verdicts(
        [
            row("single", -0.02, -0.09, 0.05, 8, 10),
            row("mad", 0.12, 0.04, 0.2, 15, 3),
            {"label": "econ", "vs_econ_diff": ""},
        ]
    )
    assert len(lines) == 2
    assert "single** is not told apart from econ: -2.0 pp [-9.0, +5.0]" in lines[0] and "18% of problems" in lines[0]
    assert "mad** beats econ" in lines[1]
    # 80% power at 5%: (1.96 + 0.84) * sqrt(d / n)
    assert study.detectable_difference(100, 0.18) == pytest.approx(2.8016 * (0.18 / 100) ** 0.5, rel=1e-3)
    assert f"about {round(100 * study.detectable_difference(100, 0.18))} pp" in lines[0]


def test_study_state_sums_sittings_keeps_failed_stages_open_and_refuses_other_settings(tmp_path):
    path = tmp_path / "study_state.json"
    state = study.StudyState(path, {"limit": 100})
    with pytest.raises(KeyboardInterrupt):
        state.run("train", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    again = study.StudyState(path, {"limit": 100})
    assert not again.done("train") and again.stages["train"]["sittings"] == 1
    again.run("train", lambda: None)
    ran = []
    study.StudyState(path, {"limit": 100}).run("train", lambda: ran.append(1))
    assert ran == [] and json.loads(path.read_text())["stages"]["train"] == {
        "wall_s": pytest.approx(again.stages["train"]["wall_s"]),
        "sittings": 2,
        "done": True,
    }
    with pytest.raises(ConfigError, match=r"holds a study with other limit; use a fresh --out"):
        study.StudyState(path, {"limit": 50})


def test_study_state_plays_a_done_stage_again_when_its_product_is_gone(tmp_path):
    path = tmp_path / "study_state.json"
    state = study.StudyState(path, {"limit": 1}, {"train": "train/last.ckpt"})
    state.run("train", lambda: (tmp_path / "train").mkdir())
    (tmp_path / "train" / "last.ckpt").write_text("weights")
    ran = []
    study.StudyState(path, {"limit": 1}, {"train": "train/last.ckpt"}).run("train", lambda: ran.append(1))
    assert ran == []
    (tmp_path / "train" / "last.ckpt").unlink()  # a restored state on a fresh machine
    again = study.StudyState(path, {"limit": 1}, {"train": "train/last.ckpt"})
    assert not again.done("train")
    with pytest.raises(KeyboardInterrupt):
        again.run("train", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert json.loads(path.read_text())["stages"]["train"]["done"] is False  # not done until it is played again


def test_load_samples_keep_one_header_first_whoever_writes(tmp_path):
    path = tmp_path / "load.csv"
    path.touch()  # an empty file (a sitting killed as it began) still gets its header
    sampler = study.LoadSampler(path, every_s=0.001)
    with sampler:
        writers = [threading.Thread(target=lambda: [sampler.enter("train") for _ in range(20)]) for _ in range(4)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["time", "stage", "load1"] and ["time", "stage", "load1"] not in rows[1:]
    assert len(rows) > 80 and all(len(row) == 3 for row in rows)
    assert study.load_summary(path)["train"]["samples"] >= 80


def sitting(record, out, settings: dict, replies: list[str]) -> None:
    """One sitting of a study that played nothing but `replies`: restore, answer, save."""
    carrier = study.StudyRecord(record, out, settings)
    carrier.restore()
    state = study.StudyState(out / "study_state.json", settings, study.STAGE_PRODUCTS)
    cache = ResponseCache(out / study.RESPONSES)
    for reply in replies:
        cache.put(f"key {reply}", Completion(reply, 1, 2, 0.1))
    cache.close()
    state.run("train", lambda: None)
    carrier.save()


def test_a_record_carries_replies_and_state_and_numbers_its_sittings(tmp_path):
    record, settings = tmp_path / "record", {"limit": 1}
    sitting(record, tmp_path / "machine1", settings, ["a", "b"])
    (tmp_path / "machine1" / "compare" / "runs" / "single").mkdir(parents=True)
    sitting(record, tmp_path / "machine2", settings, ["c"])  # a fresh machine: the record restores a, b
    assert sorted(p.name for p in (record / "responses").iterdir()) == ["sitting-01.jsonl", "sitting-02.jsonl"]
    assert [json.loads(line)["text"] for line in (record / "responses" / "sitting-02.jsonl").open()] == ["c"]
    assert ResponseCache(tmp_path / "machine2" / study.RESPONSES).get("key a").text == "a"
    assert json.loads((record / "study_state.json").read_text())["stages"]["train"]["sittings"] == 2
    sitting(record, tmp_path / "machine3", settings, [])  # nothing asked: the record does not change
    assert not (record / "responses" / "sitting-03.jsonl").exists()
    assert json.loads((record / "study_state.json").read_text())["stages"]["train"]["sittings"] == 2


def test_a_record_of_other_settings_or_ahead_of_out_is_refused_before_anything_is_copied(tmp_path):
    record = tmp_path / "record"
    sitting(record, tmp_path / "machine1", {"limit": 1}, ["a"])
    with pytest.raises(ConfigError, match=r"^--record=.*record holds a study with other limit; use another --record"):
        study.StudyRecord(record, tmp_path / "machine2", {"limit": 2}).restore()
    assert not (tmp_path / "machine2").exists()
    sitting(record, tmp_path / "machine3", {"limit": 1}, ["b"])  # the record moves on elsewhere
    with pytest.raises(ConfigError, match=r"machine1 is behind --record=.* \(1 sittings against 2\); move --out aside"):
        study.StudyRecord(record, tmp_path / "machine1", {"limit": 1}).restore()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("llm.cache_path=/tmp/x.sqlite", r"^llm.cache_path: the study answers from its own cache"),
        ("llm.cache=false", r"^llm.cache: the study answers from its own cache"),
        ("+model.api_key=sk-123", r"^model.api_key: a secret on the command line would be saved with the study"),
    ],
)
def test_overrides_the_record_cannot_carry_are_refused_in_one_line(override, message):
    with pytest.raises(ConfigError, match=message):
        study.parse_args(["--out", "o", "--record", "r", override])


@pytest.mark.slow
def test_one_command_trains_compares_reports_and_resumes_with_no_repeated_call(tmp_path, monkeypatch):
    monkeypatch.setenv("ECON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    data = write_addition_problems(tmp_path / "data", n_train=2, n_test=3, seed=4)
    out = tmp_path / "study"
    with LoopbackServer(responder=addition_responder) as server:
        argv = [
            "--out",
            str(out),
            "--dataset",
            "custom",
            "--train-episodes",
            "2",
            "--limit",
            "3",
            "--n-agents",
            "2",
            "--rounds",
            "2",
            *loopback_overrides(server.base_url),
            f"dataset.path='{data}'",
            *TINY,
        ]
        study.main(argv)
        calls = len(server.requests)
        study.main(argv)  # every stage is done: nothing is played again
        assert len(server.requests) == calls
        full = (out / "study.md").read_text()
        saved = (out / "study_state.json").read_text()
        finished, stopped = json.loads(saved)["stages"], json.loads(saved)  # stopped: as if mad and mad_own played
        stopped["stages"]["compare"]["done"] = False
        (out / "study_state.json").write_text(json.dumps(stopped))
        (out / "compare" / "compare.csv").unlink()
        for run in ("mad", "mad_own"):
            (out / "compare" / "runs" / run / "results.json").unlink()
        study.main([*argv, "--so-far"])
        assert len(server.requests) == calls  # --so-far asks the LLM nothing
    so_far = (out / "study.md").read_text()
    assert "**So far**: the comparison is not done; the tables hold the 6 runs that finished." in so_far
    assert "| mad |" not in so_far and "| mad (own settings) |" not in so_far and "**So far**" not in full
    assert full.split("| single |")[1].split("\n")[0] == so_far.split("| single |")[1].split("\n")[0]
    report = full
    for method in (
        "econ_no_bne (policy trained 2 episodes)",
        "econ (policy trained 2 episodes)",
        "econ_fixed_action",
        "single",
        "self_consistency",
        "mad",
        "mad (own settings)",
        "self_consistency (own settings)",
    ):
        assert f"| {method} |" in report, method
    assert "## What the paired intervals say" in report and "by BNE round" in report
    assert "**The policy in training**" in report and "| 1–2 |" in report
    assert "**What the trained critic says about its policy**" in report and "**What each update did**" in report
    assert "## What each protocol did" in report and "max_rounds" in report
    assert (out / "accuracy_by_round.png").stat().st_size > 0 and (out / "load.csv").read_text().count("\n") >= 2
    assert finished["train"]["done"] and finished["compare"]["done"] and finished["train"]["sittings"] == 1


def test_a_report_so_far_needs_a_trained_policy_and_a_table_only_needs_a_finished_run(tmp_path):
    with pytest.raises(ConfigError, match=r"--so-far: .* has no trained policy yet .*; run the study first"):
        study.main(["--out", str(tmp_path / "study"), "--so-far"])
    (tmp_path / "compare" / "runs" / "single").mkdir(parents=True)
    with pytest.raises(EconError, match=r"--table-only: no run under .* has finished \(no results.json\)"):
        study.compare_methods.main(["--out", str(tmp_path / "compare"), "--table-only"])
    with pytest.raises(ConfigError, match=r"--table-only and --scaling-only: .* pass one of them"):
        study.compare_methods.parse_args(["--table-only", "--scaling-only"])


def test_the_replay_tolerance_serves_a_rebuilt_policy_as_far_off_as_the_svamp_records_and_not_exploration(tmp_path):
    """The SVAMP record's 100-episode policy, rebuilt from its replies on another CPU (sitting 9), played
    every executor 2.09e-3 to 2.14e-3 off the recorded T (p within 4.6e-5): its training replay was served
    whole, but at 10^-3 every compared executor call missed and was asked again."""
    recorded = ResponseCache(tmp_path / "recorded.sqlite")
    recorded.put("k", Completion("reply", 1, 2, 0.0), SampledCall("call", 1.4912, 0.8029))
    recorded.dump(tmp_path / "sitting-01.jsonl")
    rebuilt = ResponseCache(tmp_path / "rebuilt.sqlite")
    rebuilt.load(tmp_path / "sitting-01.jsonl")
    drifted = SampledCall("call", 1.4912 + 2.14e-3, 0.8029 + 4.6e-5)
    assert rebuilt.get_near(drifted, study.REPLAY_TOLERANCE).text == "reply"
    explored = SampledCall("call", 1.4912 + 0.05, 0.8029)  # a quarter of training's exploration σ in T (0.19)
    assert rebuilt.get_near(explored, study.REPLAY_TOLERANCE) is None


@pytest.mark.slow
def test_a_record_carries_the_study_to_fresh_machines_with_no_repeated_call(tmp_path, monkeypatch):
    monkeypatch.setenv("ECON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    data = write_addition_problems(tmp_path / "data", n_train=2, n_test=3, seed=5)
    out, record = tmp_path / "study", tmp_path / "record"
    compare = study.compare_methods.main
    with LoopbackServer(responder=addition_responder) as server:
        argv = [
            *("--out", str(out), "--record", str(record), "--dataset", "custom", "--train-episodes", "2"),
            *("--limit", "3", "--n-agents", "2", "--rounds", "2"),
            *loopback_overrides(server.base_url),
            f"dataset.path='{data}'",
            *TINY,
        ]
        monkeypatch.setattr(study.compare_methods, "main", lambda argv: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            study.main(argv)  # sitting 1: trained, then Ctrl-C
        assert json.loads((record / "study_state.json").read_text())["stages"]["compare"]["done"] is False
        assert (record / "responses" / "sitting-01.jsonl").exists() and not list(record.rglob("*.ckpt"))
        trained = len(server.requests)
        recorded_actions = played_actions(out / "train" / "traces.jsonl")

        shutil.rmtree(out)  # sitting 2 on a fresh machine: training replays from the record, compare runs
        monkeypatch.setenv("ECON_CACHE_DIR", str(tmp_path / "cache2"))  # no embedding cache either
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")  # and another CPU: torch's unvectorised kernels
        monkeypatch.setattr(study.compare_methods, "main", compare)
        study.main(argv)
        train = json.loads((out / "train" / "results.json").read_text())
        assert train["usage"]["total"]["calls"] == 0, "the replayed training asked the LLM again"
        replayed_actions = played_actions(out / "train" / "traces.jsonl")
        drift = max(abs(a - b) for a, b in zip(recorded_actions, replayed_actions, strict=True))
        assert drift < study.REPLAY_TOLERANCE  # the other kernels moved the actions by float noise only
        if drift == 0:  # a CPU whose native kernels are the unvectorised ones
            warnings.warn(
                "ATEN_CPU_CAPABILITY=default did not move the actions: the tolerance went untested", stacklevel=1
            )
        compared = len(server.requests)
        assert compared > trained and (record / "responses" / "sitting-02.jsonl").exists()
        table = (out / "compare" / "compare.csv").read_text()

        rows = {str(path.relative_to(record)): path.read_text() for path in record.glob("compare/runs/*/*.jsonl")}
        assert len(rows) == 8 and all(text.count("\n") == 3 for text in rows.values())

        shutil.rmtree(out)  # sitting 3, fresh again (sitting 2's kernels: the same policy): everything from the record
        monkeypatch.setenv("ECON_CACHE_DIR", str(tmp_path / "cache3"))
        study.main(argv)
        assert len(server.requests) == compared
    # the carried rows were reused, not played again from the cache and appended
    assert {str(path.relative_to(out)): path.read_text() for path in out.glob("compare/runs/*/results_*.jsonl")} == rows
    assert accuracies((out / "compare" / "compare.csv").read_text()) == accuracies(table)
    stages = json.loads((record / "study_state.json").read_text())["stages"]
    # sitting 3 asked nothing, so the record kept sitting 2's state
    assert stages["train"]["sittings"] == 2 and stages["compare"]["sittings"] == 2 and stages["compare"]["done"]
    assert not (record / "responses" / "sitting-03.jsonl").exists()


@pytest.mark.slow
def test_a_study_stopped_by_ctrl_c_mid_method_resumes_on_a_fresh_machine_asking_only_what_was_in_flight(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("ECON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    data = write_addition_problems(tmp_path / "data", n_train=2, n_test=4, seed=6)
    out, record = tmp_path / "study", tmp_path / "record"
    stopped: list[Path] = []
    first_sitting = threading.Event()
    first_sitting.set()

    def responder(request: dict) -> str:
        """Ctrl-C the study (this process) once a compared method has finished one of its four problems."""
        if first_sitting.is_set():
            if stopped:  # later calls outlast the 0.25 s subprocess.run gives its child before killing it
                time.sleep(2.0)
            else:
                begun = [p for p in out.glob("compare/runs/*/results_*.jsonl") if p.read_text().count("\n") == 1]
                if begun:
                    stopped.append(begun[0])
                    os.kill(os.getpid(), signal.SIGINT)
        return addition_responder(request)

    argv = [
        *("--out", str(out), "--record", str(record), "--dataset", "custom", "--train-episodes", "2"),
        *("--limit", "4", "--n-agents", "2", "--rounds", "2"),
        f"dataset.path='{data}'",
        *TINY,
    ]
    with LoopbackServer(responder=responder) as server:
        with pytest.raises(KeyboardInterrupt):
            study.main([*argv, *loopback_overrides(server.base_url)])
        first = [json.dumps(body, sort_keys=True) for body in server.chat_requests()]
        method = stopped[0].relative_to(out)
        carried = (record / method).read_text()
        assert carried.count("\n") == 1, "the record did not keep the interrupted method's finished problem"
        assert json.loads((record / "study_state.json").read_text())["stages"]["compare"]["done"] is False

        shutil.rmtree(out)  # a fresh machine: the record restores the study, which goes on where it stopped
        monkeypatch.setenv("ECON_CACHE_DIR", str(tmp_path / "cache2"))
        first_sitting.clear()
        study.main([*argv, *loopback_overrides(server.base_url)])
        second = [json.dumps(body, sort_keys=True) for body in server.chat_requests()][len(first) :]
    asked_again = [body for body in second if body in set(first)]
    # only replies in flight when Ctrl-C killed the run were never stored: at most llm.max_concurrency of them
    assert len(asked_again) <= 4, f"{len(asked_again)} calls of the first sitting were asked again"
    assert (out / method).read_text().startswith(carried)  # its finished problem was reused, not played again
    assert (out / method).read_text().count("\n") == 4
    assert json.loads((record / "study_state.json").read_text())["stages"]["compare"]["done"] is True


def played_actions(traces: Path) -> list[float]:
    """Every [T, p] a training run sent, in order, from its traces."""
    return [
        value
        for episode in read_jsonl(traces)
        for played in episode["rounds"]
        for action in played["actions"]
        for value in action
    ]


def accuracies(compare_csv: str) -> dict[str, tuple[str, str]]:
    """Each compared run's accuracy and tokens per problem, as the table's CSV holds them."""
    return {
        row["run"]: (row["accuracy"], row["tokens_per_problem"]) for row in csv.DictReader(compare_csv.splitlines())
    }
