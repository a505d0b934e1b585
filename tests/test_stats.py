"""Paired statistics of two methods on the same problems: the bootstrap interval and the exact McNemar test."""

from __future__ import annotations

import random

import pytest
from scipy.stats import binomtest

from econ.eval.stats import paired_difference, wilson_interval


def outcomes(pattern: str) -> dict[str, bool]:
    """Per-problem outcomes from a string: "101" is {"p0": True, "p1": False, "p2": True}."""
    return {f"p{i}": c == "1" for i, c in enumerate(pattern)}


def test_difference_and_discordant_counts_are_per_problem():
    a, b = outcomes("11100000"), outcomes("10011000")
    paired = paired_difference(a, b)
    assert paired.n == 8 and paired.difference == pytest.approx(3 / 8 - 3 / 8)
    assert (paired.a_only, paired.b_only) == (2, 2)


def test_mcnemar_is_the_exact_binomial_test_on_the_discordant_problems():
    a, b = outcomes("1" * 9 + "0" * 11), outcomes("0" * 8 + "1" + "0" * 8 + "111")
    paired = paired_difference(a, b)
    assert (paired.a_only, paired.b_only) == (8, 3)
    assert paired.mcnemar_p == pytest.approx(binomtest(3, 11, 0.5).pvalue)
    assert paired_difference(outcomes("1010"), outcomes("1010")).mcnemar_p == 1.0  # no discordant problem


def test_bootstrap_interval_is_seeded_and_contains_the_difference():
    rng = random.Random(1)
    a = {f"p{i}": rng.random() < 0.6 for i in range(40)}
    b = {f"p{i}": rng.random() < 0.4 for i in range(40)}
    first, again, other = paired_difference(a, b), paired_difference(a, b), paired_difference(a, b, seed=7)
    low, high = first.ci95
    assert first == again and other.ci95 != first.ci95
    assert low <= first.difference <= high and high - low > 0.1


def test_pairing_keeps_problems_together():
    # the same two accuracies; paired on identical outcomes the difference is certainly 0
    same = outcomes("1100110011")
    assert paired_difference(same, dict(same)).ci95 == (0.0, 0.0)
    shifted = dict(zip(same, list(same.values())[1:] + list(same.values())[:1]))  # same accuracy, other problems
    low, high = paired_difference(same, shifted).ci95
    assert low < 0 < high


def test_twenty_problems_one_apart_cannot_be_told_apart():
    a, b = outcomes("1" * 6 + "0" * 14), outcomes("1" * 5 + "0" * 15)
    paired = paired_difference(a, b)
    assert paired.difference == pytest.approx(0.05) and paired.ci95[0] <= 0 < paired.ci95[1]
    assert paired.mcnemar_p == 1.0


def test_different_problem_sets_are_refused():
    with pytest.raises(ValueError, match="different problems"):
        paired_difference(outcomes("10"), outcomes("101"))
    with pytest.raises(ValueError, match="no problems"):
        paired_difference({}, {})


def test_one_problem_has_a_point_interval():
    assert paired_difference(outcomes("1"), outcomes("0")).ci95 == (1.0, 1.0)


def test_wilson_interval_is_sane_at_the_edges():
    assert wilson_interval(0, 0) == (0.0, 0.0)
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.1 < high < 0.2
    assert wilson_interval(20, 20)[1] == 1.0
