"""The coordinator's commitment is read with a JSON decoder: LaTeX braces, fences, prose and nesting do not break it."""

from __future__ import annotations

import json

import pytest

from econ.data.answers import answers_match
from econ.game.prompts import parse_commitment
from econ.game.tree import decide


def reply(answer: object, justification: str = "The solvers agree.") -> str:
    return json.dumps({"answer": answer, "justification": justification})


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("\\frac{1}{2}", "\\frac{1}{2}"),
        ("\\boxed{7}", "7"),
        ("\\boxed{\\frac{3}{4}}", "\\frac{3}{4}"),
        ("\\sqrt{2}+\\frac{1}{\\sqrt{3}}", "\\sqrt{2}+\\frac{1}{\\sqrt{3}}"),
        ("(1, 2) \\cup \\{3\\}", "(1, 2) \\cup \\{3\\}"),
    ],
)
def test_math_style_answers_with_braces_are_read_whole(answer, expected):
    assert parse_commitment(reply(answer)) == (expected, "The solvers agree.", True)


def test_a_fraction_answer_matches_its_gold():
    answer, _, ok = parse_commitment(reply("\\frac{1}{2}"))
    assert ok and answers_match(answer, "\\frac{1}{2}", "math") and answers_match(answer, "0.5", "numeric")


def test_one_backslash_latex_is_read_as_latex_not_as_json_escapes():
    # "\f" and "\t" are JSON escapes (form feed, tab) and "\s" is no escape at all: models write LaTeX this way
    assert parse_commitment('{"answer": "\\frac{1}{2}", "justification": "x"}')[0] == "\\frac{1}{2}"
    assert parse_commitment('{"answer": "2\\times\\sqrt{3}", "justification": "x"}')[0] == "2\\times\\sqrt{3}"
    assert parse_commitment('{"answer": "\\boxed{5}"}')[0] == "5"


def test_code_fence_and_prose_around_the_object_are_ignored():
    text = 'Sure! Here is my decision:\n```json\n{"answer": "12", "justification": "3 + 9 = 12"}\n```\nHope it helps.'
    assert parse_commitment(text) == ("12", "3 + 9 = 12", True)


def test_nested_objects_and_braces_in_strings_do_not_cut_the_object_short():
    text = (
        'x {"answer": "5", "justification": "sets {a, b} and {c}", "detail": {"answer": "9", "steps": [1, {"k": 2}]}}'
    )
    assert parse_commitment(text) == ("5", "sets {a, b} and {c}", True)


def test_the_last_object_with_an_answer_wins():
    text = '{"answer": "3", "justification": "first"} then I changed my mind {"answer": "4", "justification": "b"}'
    assert parse_commitment(text)[0] == "4"
    assert parse_commitment('{"answer": "4"} {"answer": ""} {"note": 1}')[0] == "4"


def test_a_number_answer_and_raw_newlines_in_strings_are_accepted():
    assert parse_commitment('{"answer": 7, "justification": "because"}') == ("7", "because", True)
    assert parse_commitment('{"answer": "8", "justification": "line one\nline two"}') == (
        "8",
        "line one\nline two",
        True,
    )


@pytest.mark.parametrize(
    "text",
    [
        "The answer is 5.",
        '{"answer": "5"',
        "{answer: 5}",
        '{"answer": null}',
        '{"answer": "  "}',
        '["answer", "5"]',
        "",
    ],
)
def test_replies_without_a_json_answer_are_not_commitments(text):
    assert parse_commitment(text) == (None, "", False)


def test_hierarchical_commitments_read_json_the_same_way():
    node = decide(reply("\\frac{1}{2}"), ["3", "3"], "math")
    assert (node.answer, node.json_ok, node.fallback) == ("\\frac{1}{2}", True, False)
    fallback = decide("I think three.", ["3", "3", "4"], "svamp")
    assert (fallback.answer, fallback.json_ok, fallback.fallback) == ("3", False, True)


def test_a_newline_escape_in_an_answer_stays_a_newline():
    assert parse_commitment('{"answer": "7\\nThe rest", "justification": "x"}')[0] == "7\nThe rest"
