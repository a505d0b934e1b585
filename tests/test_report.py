"""results.json entries and the final table say which sampling each method used and how it compares with econ."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from econ.eval.report import paired_with_reference, print_table, sampling_text, summarize
from econ.game.records import EpisodeResult, RoundRecord


def result(method: str, problem: str, correct: bool, actions: list[list[list[float]]]) -> EpisodeResult:
    rounds = [
        RoundRecord(
            round=k,
            actions=a,
            belief_norms=[],
            answers=["1"] * len(a),
            commitment="1",
            commitment_json_ok=True,
            commitment_fallback=False,
            residual=None,
        )
        for k, a in enumerate(actions)
    ]
    return EpisodeResult(
        method=method,
        problem_id=problem,
        gold="1",
        strategy="",
        strategy_leak=False,
        rounds=rounds,
        final_answer="1",
        correct=correct,
        converged=False,
        reward_terms=[],
        prompt_tokens=10,
        completion_tokens=5,
        llm_calls=3,
        cache_hits=0,
        wall_s=1.0,
    )


ECON = [
    result("econ", "a", True, [[[0.5, 0.1], [1.5, 0.3]], [[2.0, 0.9], [0.1, 0.5]]]),
    result("econ", "b", False, [[[1.0, 0.2], [1.0, 0.2]]]),
]
FIXED = [result("self_consistency", p, c, [[[0.7, 0.1]] * 5]) for p, c in (("a", True), ("b", True))]


def test_econ_sampling_is_the_mean_and_range_over_executors_rounds_and_problems():
    sampling = summarize(ECON)["sampling"]
    temperatures = [0.5, 1.5, 2.0, 0.1, 1.0, 1.0]
    assert sampling["temperature"] == pytest.approx({"mean": sum(temperatures) / 6, "min": 0.1, "max": 2.0})
    assert sampling["penalty"] == pytest.approx({"mean": 2.2 / 6, "min": 0.1, "max": 0.9})
    assert sampling_text(sampling) == "T 1.02 [0.10, 2.00], p 0.37 [0.10, 0.90]"


def test_a_fixed_action_reads_as_one_value():
    assert sampling_text(summarize(FIXED)["sampling"]) == "T 0.70, p 0.10"


def test_paired_entries_compare_every_other_method_with_econ_on_the_same_problems():
    paired = paired_with_reference({"econ": ECON, "self_consistency": FIXED})
    assert set(paired) == {"self_consistency"}
    entry = paired["self_consistency"]
    assert entry["reference"] == "econ" and entry["n"] == 2 and entry["difference"] == pytest.approx(0.5)
    assert (entry["a_only"], entry["b_only"]) == (1, 0) and entry["mcnemar_p"] == 1.0
    assert paired_with_reference({"self_consistency": FIXED}) == {}


def test_final_table_shows_sampling_and_the_paired_interval():
    summaries = {"econ": summarize(ECON), "self_consistency": summarize(FIXED)}
    summaries["self_consistency"]["vs_econ"] = paired_with_reference({"econ": ECON, "self_consistency": FIXED})[
        "self_consistency"
    ]
    out = io.StringIO()
    print_table(summaries, "t", Console(file=out, width=250))
    table = out.getvalue()
    assert "T 1.02 [0.10, 2.00], p 0.37 [0.10, 0.90]" in table and "T 0.70, p 0.10" in table
    assert "vs econ (paired)" in table and "+50.0 pp [+0.0, +100.0], p=1" in table
