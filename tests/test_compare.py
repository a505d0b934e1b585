"""The comparison study: its table comes from the runs' results.json, and the token-scaling measurement."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from test_baselines import HashEmbedder

from econ.config.resolvers import register_resolvers
from econ.data.datasets import Problem
from econ.errors import ConfigError, EconError
from econ.methods.budget import nearest_whole
from experiments import compare_methods, token_scaling

REPO = Path(__file__).resolve().parents[1]
IDS = ["svamp:a", "svamp:b", "svamp:c", "svamp:d"]


FIXED_SAMPLING = {
    "temperature": {"mean": 0.7, "min": 0.7, "max": 0.7},
    "penalty": {"mean": 0.1, "min": 0.1, "max": 0.1},
}


def summary(accuracy: float, calls: float, **extra) -> dict:
    return {
        "n": 4,
        "accuracy": accuracy,
        "accuracy_ci95": [0.1234, 0.8766],
        "parse_rate": 0.75,
        "llm_calls_per_problem": calls,
        "prompt_tokens": 4000,
        "completion_tokens": 1000,
        "tokens_per_problem": 1250.0,
        "wall_s": 8.0,
        "cache_hits": 3,
        "sampling": FIXED_SAMPLING,
        **extra,
    }


def fake_run(
    root: Path,
    methods: dict[str, dict],
    ids: list[str] = IDS,
    baseline: dict | None = None,
    correct: dict[str, list[bool]] | None = None,
) -> Path:
    """A run dir as econ.evaluate leaves it: results.json plus one per-problem log per method."""
    root.mkdir(parents=True)
    for method in methods:
        # unless given, every logged problem is wrong: a table recomputed from the logs would show 0%
        outcomes = (correct or {}).get(method, [False] * len(ids))
        lines = [json.dumps({"problem_id": pid, "correct": ok}) for pid, ok in zip(ids, outcomes)]
        (root / f"results_{method}.jsonl").write_text("\n".join(lines) + "\n")
    results = {
        "methods": methods,
        "dataset": "svamp",
        "model": "m",
        "baseline": baseline,
        "config": {"agents": {"n_agents": 3}, "bne": {"max_iterations_infer": 2}},
    }
    path = root / "results.json"
    path.write_text(json.dumps(results))
    return path


def matched(method: str, **fields) -> dict:
    return {
        "method": method,
        **fields,
        "budget": {
            "kind": "calls",
            "target_per_problem": 9.0,
            "method": "econ",
            "source": "runs/econ_untrained/results.json",
            "matched_per_problem": "9 calls",
        },
    }


def test_table_is_read_from_results_json_not_recomputed(tmp_path):
    stops = {"fixed_point": 3, "max_rounds": 1}
    econ = fake_run(
        tmp_path / "econ", {"econ_no_bne": summary(0.5, 5.0), "econ": summary(0.625, 9.0, stop_reasons=stops)}
    )
    sc = fake_run(
        tmp_path / "sc", {"self_consistency": summary(0.375, 9.0)}, baseline=matched("self_consistency", samples=9)
    )
    rows = [
        compare_methods.read_row("econ_no_bne", econ, untrained=True),
        compare_methods.read_row("econ", econ, untrained=True),
        compare_methods.read_row("self_consistency", sc, untrained=True),
    ]
    compare_methods.check_same_problems(rows)
    compare_methods.add_paired(rows)
    note = compare_methods.budget_note("calls", rows)
    compare_methods.write_markdown(rows, note, tmp_path / "compare.md", scaling=None)
    compare_methods.write_csv(rows, tmp_path / "compare.csv")
    table = (tmp_path / "compare.md").read_text()
    assert (
        "| econ (untrained policy) | N=3, K<=2 rounds | T 0.70, p 0.10 | 4 | 62.5% [12.3%, 87.7%] | - | 75.0% "
        "| 9.00 | 1000 | 250 | 2.00 | 3 |"
    ) in table
    assert "| self_consistency | matched: 9 calls | T 0.70, p 0.10 | 4 | 37.5% [12.3%, 87.7%] |" in table
    assert "matched to econ's LLM calls per problem (9.00, read from runs/econ_untrained/results.json)" in table
    with (tmp_path / "compare.csv").open() as handle:
        csv_rows = {row["method"]: row for row in csv.DictReader(handle)}
    assert float(csv_rows["econ_no_bne"]["accuracy"]) == 0.5 and float(csv_rows["econ"]["ci_low"]) == 0.1234
    assert json.loads(csv_rows["econ"]["stop_reasons"]) == stops  # a JSON cell, not a Python repr
    assert csv_rows["econ_no_bne"]["stop_reasons"] == ""


def test_each_method_is_compared_with_econ_problem_by_problem_with_an_interval(tmp_path):
    econ_sampling = {
        "temperature": {"mean": 1.05, "min": 0.1, "max": 2.0},
        "penalty": {"mean": 0.5, "min": 0.1, "max": 0.9},
    }
    econ = fake_run(
        tmp_path / "econ",
        {"econ_no_bne": summary(0.25, 5.0), "econ": summary(0.5, 9.0, sampling=econ_sampling)},
        correct={"econ_no_bne": [True, False, False, False], "econ": [True, True, False, False]},
    )
    sc = fake_run(
        tmp_path / "sc",
        {"self_consistency": summary(0.5, 9.0)},
        baseline=matched("self_consistency"),
        correct={"self_consistency": [False, False, True, True]},
    )
    rows = [
        compare_methods.read_row("econ_no_bne", econ, untrained=True),
        compare_methods.read_row("econ", econ, untrained=True),
        compare_methods.read_row("self_consistency", sc, untrained=True),
    ]
    compare_methods.add_paired(rows)
    compare_methods.write_markdown(rows, "note", tmp_path / "compare.md", scaling=None)
    compare_methods.write_csv(rows, tmp_path / "compare.csv")
    table = (tmp_path / "compare.md").read_text()
    # same accuracy as econ, but on the other two problems: every problem is discordant
    assert "| self_consistency | matched: 9 calls | T 0.70, p 0.10 | 4 | 50.0% [12.3%, 87.7%] | +0.0 pp [" in table
    assert "T 1.05 [0.10, 2.00], p 0.50 [0.10, 0.90]" in table
    assert "cannot tell the two methods apart" in table and "4 problems" in table
    with (tmp_path / "compare.csv").open() as handle:
        csv_rows = {row["method"]: row for row in csv.DictReader(handle)}
    sc_row, no_bne = csv_rows["self_consistency"], csv_rows["econ_no_bne"]
    assert (sc_row["only_this_solved"], sc_row["only_econ_solved"], float(sc_row["vs_econ_mcnemar_p"])) == (
        "2",
        "2",
        1.0,
    )
    assert float(sc_row["vs_econ_ci_low"]) < 0 < float(sc_row["vs_econ_ci_high"])
    assert float(no_bne["vs_econ_diff"]) == -0.25 and (no_bne["only_this_solved"], no_bne["only_econ_solved"]) == (
        "0",
        "1",
    )
    assert csv_rows["econ"]["vs_econ_diff"] == "" and float(csv_rows["econ"]["T_max"]) == 2.0


def test_pairing_reads_only_the_records_of_the_policy_results_json_names(tmp_path):
    run = fake_run(tmp_path / "run", {"econ": summary(0.5, 9.0, policy="new")})
    log = tmp_path / "run" / "results_econ.jsonl"
    log.write_text(
        "".join(
            json.dumps({"problem_id": pid, "correct": pid == "svamp:a", "policy": policy}) + "\n"
            for policy in ("new", "old")
            for pid in IDS
        )
    )
    correct = compare_methods.correct_by_problem("econ", run)
    assert correct == {"svamp:a": True, "svamp:b": False, "svamp:c": False, "svamp:d": False}
    log.write_text("".join(json.dumps({"problem_id": pid, "correct": True, "policy": "old"}) + "\n" for pid in IDS))
    assert compare_methods.correct_by_problem("econ", run) == {}


def test_econ_rows_say_how_long_their_policy_trained(tmp_path):
    econ = fake_run(tmp_path / "econ", {"econ": summary(0.5, 9.0)})
    results = json.loads(econ.read_text())
    econ.write_text(json.dumps({**results, "train_episodes": 20}))
    assert compare_methods.read_row("econ", econ, untrained=False)["label"] == "econ (policy trained 20 episodes)"
    assert compare_methods.read_row("econ", econ, untrained=True)["label"] == "econ (untrained policy)"


def test_a_matched_method_at_its_own_settings_is_a_row_of_its_own(tmp_path):
    econ = fake_run(tmp_path / "econ", {"econ": summary(0.5, 9.0)}, correct={"econ": [True, True, False, False]})
    mad = fake_run(tmp_path / "mad", {"mad": summary(0.5, 9.0)}, baseline=matched("mad", agents=3, rounds=3))
    own = fake_run(
        tmp_path / "mad_own",
        {"mad": summary(0.25, 6.0)},
        baseline={"agents": 3, "rounds": 2},
        correct={"mad": [True, False, False, False]},
    )
    paths = {"econ": econ, "mad": mad, compare_methods.own_run("mad"): own}
    assert compare_methods.table_runs(paths) == [("econ", "econ"), ("mad", "mad"), ("mad_own", "mad")]
    rows = [
        compare_methods.read_row(m, paths[name], untrained=False, run=name)
        for name, m in compare_methods.table_runs(paths)
    ]
    compare_methods.check_same_problems(rows)
    compare_methods.add_paired(rows)
    mine = rows[2]
    assert (mine["label"], mine["budget"], mine["run"]) == ("mad (own settings)", "3 agents x 2 rounds", "mad_own")
    assert mine["vs_econ_diff"] == pytest.approx(-0.25)  # its own per-problem log, not the matched run's
    note = compare_methods.budget_note("calls", rows)
    assert note.startswith("Equal budget: mad matched") and "(own settings): mad" in note


def test_runs_on_different_problems_are_refused(tmp_path):
    single = fake_run(tmp_path / "single", {"single": summary(0.5, 1.0)}, baseline={"samples": 1})
    mad = fake_run(tmp_path / "mad", {"mad": summary(0.5, 9.0)}, ids=IDS[:3] + ["svamp:z"], baseline={})
    rows = [compare_methods.read_row(m, p, untrained=False) for m, p in (("single", single), ("mad", mad))]
    with pytest.raises(EconError, match="mad and single ran on different problems"):
        compare_methods.check_same_problems(rows)


def test_command_line_errors_are_one_line_and_precede_any_run(tmp_path):
    with pytest.raises(ConfigError, match=r"--methods: unknown \['cot'\]"):
        compare_methods.parse_args(["--methods", "single,cot"])
    with pytest.raises(ConfigError, match="--budget: matching needs the econ run"):
        compare_methods.parse_args(["--methods", "single,mad"])
    with pytest.raises(ConfigError, match="--ckpt="):
        compare_methods.parse_args(["--ckpt", str(tmp_path / "none.ckpt")])


def scaling_config():
    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(
            config_name="evaluate",
            overrides=[
                "method=mad",
                "agents.belief_dim=8",
                "agents.entity_dim=8",
                "agents.n_heads=2",
                "agents.n_blocks=1",
            ],
        )


def test_mad_prompt_tokens_grow_quadratically_in_n_and_econs_linearly():
    problems = [Problem("svamp:x", "A box holds 6 pens. How many pens are in 2 boxes?", "12", "svamp")]
    rows = token_scaling.measure(scaling_config(), [2, 3, 4], 2, problems, HashEmbedder())
    tokens = {(r["method"], r["n_agents"]): r for r in rows}
    for n in (2, 3, 4):
        assert tokens[("mad", n)]["llm_calls"] == 2 * n  # 2 rounds of N debaters
        assert tokens[("econ", n)]["llm_calls"] == 1 + 2 * (n + 1)  # strategy + 2 x (N executors + commitment)
    mad = [tokens[("mad", n)]["prompt_tokens"] for n in (2, 3, 4)]
    econ = [tokens[("econ", n)]["prompt_tokens"] for n in (2, 3, 4)]
    mad_curvature, econ_curvature = mad[2] - 2 * mad[1] + mad[0], econ[2] - 2 * econ[1] + econ[0]
    # MAD: each of N debaters reads N-1 answers of ~150 words -> second difference ~ 2 x 150 words
    assert mad_curvature > 250 and abs(econ_curvature) < 0.1 * mad_curvature
    assert token_scaling.ratio_at(rows, 4) < token_scaling.ratio_at(rows, 3) < token_scaling.ratio_at(rows, 2)


def test_realistic_responder_is_as_long_as_asked_and_ends_in_a_box():
    body = {"seed": 3, "max_tokens": 320, "messages": [{"role": "user", "content": "Solve it."}]}
    reply = token_scaling.realistic_responder(body)
    assert len(reply.split()) == token_scaling.SOLUTION_WORDS and reply.endswith("}")
    assert len(token_scaling.realistic_responder({**body, "max_tokens": 40}).split()) == 40
    assert "answer" in json.loads(
        token_scaling.realistic_responder(
            {**body, "messages": [{"role": "user", "content": "Reply with only a JSON object"}]}
        )
    )


@pytest.mark.slow
def test_one_command_runs_every_method_on_the_same_problems_at_equal_calls(loopback, tmp_path, monkeypatch):
    monkeypatch.setenv("ECON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "compare"
    compare_methods.main(
        [
            "--out",
            str(out),
            "--limit",
            "2",
            "--n-agents",
            "2",
            "--rounds",
            "2",
            "--no-scaling",
            "model=openai_compatible",
            f"model.base_url={loopback.base_url}",
            "model.model=loopback",
            "agents.belief_dim=16",
            "agents.entity_dim=32",
        ]
    )
    assert {p.name for p in out.iterdir()} >= {"compare.md", "compare.csv", "accuracy_vs_tokens.png", "runs"}
    with (out / "compare.csv").open() as handle:
        rows = {row["method"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"econ_no_bne", "econ", "econ_fixed_action", "single", "self_consistency", "mad"}
    assert float(rows["econ_fixed_action"]["T_mean"]) == pytest.approx(0.7) == float(rows["econ_fixed_action"]["T_max"])
    econ_calls = float(rows["econ"]["llm_calls_per_problem"])
    assert float(rows["self_consistency"]["llm_calls_per_problem"]) == nearest_whole(econ_calls)
    assert abs(float(rows["mad"]["llm_calls_per_problem"]) - econ_calls) <= 1  # N=2 debaters: nearest even count
    assert all(row["n"] == "2" for row in rows.values()) and os.path.getsize(out / "accuracy_vs_tokens.png") > 0


def test_paths_with_hydra_syntax_pass_through_overrides_unchanged():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    path = Path("/runs/+experiment=svamp,dataset.limit=50/last.ckpt")
    (override,) = OverridesParser.create().parse_overrides([compare_methods.path_override("ckpt_path", path)])
    assert override.value() == str(path)
    with pytest.raises(ConfigError, match="single quote"):
        compare_methods.path_override("ckpt_path", Path("/runs/it's/last.ckpt"))


def test_a_run_replayed_from_the_cache_reports_the_wall_time_of_the_play_that_made_its_replies(tmp_path):
    run = fake_run(tmp_path / "run", {"econ": summary(0.25, 5.0, policy="rebuilt", wall_s=4 * 0.3)})
    record = {"correct": False, "final_answer": "7", "llm_calls": 5}
    played = [{**record, "problem_id": pid, "policy": "first", "cache_hits": 1, "wall_s": 40.0} for pid in IDS]
    # the rebuilt policy replayed a, b, c from the cache; d's calls changed and it was played again
    replayed = [{**record, "problem_id": pid, "policy": "rebuilt", "cache_hits": 5, "wall_s": 0.3} for pid in IDS[:3]]
    again = {**record, "problem_id": "svamp:d", "policy": "rebuilt", "cache_hits": 2, "wall_s": 30.0}
    (tmp_path / "run" / "results_econ.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in [*played, *replayed, again])
    )
    row = compare_methods.read_row("econ", run, untrained=False)
    assert row["wall_s_per_problem"] == pytest.approx((3 * 40.0 + 30.0) / 4)
    assert row["replayed_problems"] == 3 and row["cache_only_problems"] == 0
    compare_methods.add_paired([row])
    compare_methods.write_markdown([row], "", tmp_path / "compare.md", scaling=None)
    table = (tmp_path / "compare.md").read_text()
    assert "| 37.50* |" in table and "* 3 of econ's problems were replayed from the cache" in table


def test_a_problem_the_cache_served_with_no_earlier_play_is_marked_as_reading_the_cache(tmp_path):
    run = fake_run(tmp_path / "run", {"self_consistency": summary(0.25, 5.0, wall_s=4 * 0.2)})
    (tmp_path / "run" / "results_self_consistency.jsonl").write_text(
        "".join(
            json.dumps({"problem_id": pid, "correct": False, "llm_calls": 5, "cache_hits": 5, "wall_s": 0.2}) + "\n"
            for pid in IDS
        )
    )
    row = compare_methods.read_row("self_consistency", run, untrained=False)
    assert row["wall_s_per_problem"] == pytest.approx(0.2)
    assert row["replayed_problems"] == 0 and row["cache_only_problems"] == 4
    compare_methods.add_paired([row])
    compare_methods.write_markdown([row], "", tmp_path / "compare.md", scaling=None)
    table = (tmp_path / "compare.md").read_text()
    assert "| 0.20† |" in table and "† self_consistency: 4 problems served entirely by the cache" in table
