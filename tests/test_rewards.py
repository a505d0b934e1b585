"""Reward terms: an answer that cannot be read never scores above a wrong one that can, on any term."""

from __future__ import annotations

import pytest

from econ.game.rewards import reward_terms

GOLD = "12"
UNPARSABLE, WRONG, RIGHT = None, "7", "12"
TERMS = ("AL", "TS", "CC")


def scores(commitment: str | None, *answers: str | None) -> list[dict[str, float]]:
    terms = reward_terms(list(answers), commitment, GOLD, "svamp")
    return [dict(zip(TERMS, row.tolist())) for row in terms]


@pytest.mark.parametrize(
    "commitment", [RIGHT, WRONG, "3", None], ids=["correct", "wrong-backed", "wrong-other", "no-commitment"]
)
@pytest.mark.parametrize("term", TERMS)
def test_unparsable_scores_at_most_a_parsable_wrong_answer_which_scores_at_most_a_right_one(commitment, term):
    unparsable, wrong, right = (s[term] for s in scores(commitment, UNPARSABLE, WRONG, RIGHT))
    assert unparsable <= wrong
    # AL rewards agreeing with the commitment, not correctness: a wrong answer that backs it outranks a right one
    if not (term == "AL" and commitment == WRONG):
        assert wrong <= right


@pytest.mark.parametrize("commitment", [RIGHT, WRONG, "3", None])
@pytest.mark.parametrize("term", ["AL", "TS"])
def test_unparsable_scores_strictly_below_every_parsable_answer_on_alignment_and_task(commitment, term):
    unparsable, *parsable = (s[term] for s in scores(commitment, UNPARSABLE, WRONG, RIGHT, "3"))
    assert all(unparsable < value for value in parsable)


@pytest.mark.parametrize("commitment", [RIGHT, "3", None])
def test_unparsable_scores_strictly_below_a_wrong_answer_on_contribution_unless_that_answer_backed_a_wrong_commitment(
    commitment,
):
    unparsable, wrong = (s["CC"] for s in scores(commitment, UNPARSABLE, WRONG))
    assert unparsable < wrong


def test_contribution_cannot_separate_unparsable_from_backing_a_wrong_commitment():
    unparsable, backed_wrong = (s["CC"] for s in scores(WRONG, UNPARSABLE, WRONG))
    assert unparsable == backed_wrong == -1.0


@pytest.mark.parametrize("unparsable", [None, "", "   "])
def test_text_resembling_the_commitment_earns_no_alignment_unless_it_can_be_read(unparsable):
    (row,) = scores(RIGHT, unparsable)
    assert row == {"AL": -1.0, "TS": -1.0, "CC": -1.0}


def test_parsable_answers_keep_the_paper_terms():
    backs_right, other = scores(RIGHT, "12", "5")
    assert backs_right == {"AL": 1.0, "TS": 1.0, "CC": 1.0} and other == {"AL": 0.0, "TS": 0.0, "CC": 0.0}
    (backs_wrong,) = scores(WRONG, "7")
    assert backs_wrong == {"AL": 1.0, "TS": 0.0, "CC": -1.0}
