"""Answer extraction and equivalence: hand-checked tables, then every shipped gold."""

from __future__ import annotations

import asyncio
import threading
import time
from fractions import Fraction

import pytest
from omegaconf import OmegaConf

from econ.data import (
    answers_match,
    extract_answer,
    format_number,
    last_boxed,
    load_splits,
    majority_answer,
    normalize_math,
    parse_number,
    parse_rate,
)

# ------------------------------------------------------------------ extraction

BOXES = [
    (r"so \boxed{18}", "18"),
    (r"\boxed{3} no wait \boxed{4}", "4"),
    (r"\boxed{1} \boxed{2} \boxed{3}", "3"),
    (r"first \boxed{12}. Checking again, the total is \boxed{120}.", "120"),
    (r"$\boxed{\frac{1}{2}}$", r"\frac{1}{2}"),
    (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}"),
    (r"\boxed{\left(\frac{1}{2}, 3\right)}", r"\left(\frac{1}{2}, 3\right)"),
    (r"\boxed{{5}}", "{5}"),
    (r"\boxed {x}", "x"),
    (r"\boxed  {42}", "42"),
    (r"\fbox{7}", "7"),
    (r"\boxed{1} then \fbox{2}", "2"),
    (r"\fbox{1} then \boxed{2}", "2"),
    (r"\boxed 5$", "5"),
    (r"the answer is $\boxed 9$.", "9"),
    (r"\boxed{\boxed{5}}", "5"),
    (r"\boxed{ 18 }", "18"),
    (r"\boxed{-3}", "-3"),
    (r"\boxed{1,234}", "1,234"),
    (r"\boxed{\$18.50}", r"\$18.50"),
    (r"\boxed{\text{Monday}}", r"\text{Monday}"),
    (r"\boxed{(1,2]}", "(1,2]"),
    (r"\boxed{\begin{pmatrix} 1 \\ 2 \end{pmatrix}}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"),
    (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),
    (r"\boxed{7} and afterwards 99 more words with 100 numbers", "7"),
    (r"The answer is 3. \boxed{4}", "4"),
    ("\\boxed{5}\n#### 6", "5"),
    (r"Put your answer in \boxed{}. I think \boxed{8}", "8"),
    (r"\boxed{8}. Remember to use \boxed{}.", "8"),
    (r"\boxed{x^{2}+1}", "x^{2}+1"),
    (r"\boxed{10\%}", r"10\%"),
    (r"\boxed{90^\circ}", r"90^\circ"),
]

PHRASES = [
    ("The answer is 18.", "18"),
    ("the answer is 18", "18"),
    ("So the answer is: 42", "42"),
    ("Final answer: 7", "7"),
    ("Final Answer: $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("**Final Answer:** 12", "12"),
    ("**Answer:** 12", "12"),
    ("Answer = 5", "5"),
    ("answer: -7", "-7"),
    ("#### 1,234", "1,234"),
    ("work...\n#### 18", "18"),
    ("The final answer is 3.5.", "3.5"),
    ("The correct answer is 9", "9"),
    ("The answer is 3. Wait, no. The answer is 4.", "4"),
    ("The answer is 10 dollars. She had 3 left.", "10 dollars"),
    ("Answer: 5\nsome trailing chatter 77", "5"),
    ("The answer is $18.00.", "18.00"),
    ("#### 5\nThe answer is 6", "6"),
    ("The answer is $\\frac{3}{4}$ of the pie.", "\\frac{3}{4}"),
    ("The answer is \\( 2\\sqrt{2} \\).", "2\\sqrt{2}"),
]

NUMBERS = [
    ("She has 5 apples and buys 6 more, so 11", "11"),
    ("It costs $1,234 in total", "1,234"),
    ("The temperature fell to -4 degrees", "-4"),
    ("Each share is 2.75 now.", "2.75"),
    ("about 3/4 of them", "3/4"),
    ("first 10 then 20 then 30.", "30"),
    ("12, 24 and 1,000,000", "1,000,000"),
    ("x-5", "5"),
    ("no digits at all", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), BOXES)
def test_extract_takes_last_boxed_expression(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(("text", "expected"), PHRASES)
def test_extract_falls_back_to_last_final_answer_phrase(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(("text", "expected"), NUMBERS)
def test_extract_falls_back_to_last_number(text, expected):
    assert extract_answer(text) == expected


def test_extract_of_none_is_none():
    assert extract_answer(None) is None


def test_extract_ignores_an_unclosed_last_box():
    assert extract_answer(r"\boxed{3} but then \boxed{4") == "3"


def test_extract_never_takes_the_first_box():
    assert extract_answer(r"\boxed{1} \boxed{2}") != "1"


def test_last_boxed_is_none_without_a_box():
    assert last_boxed("The answer is 5") is None


def test_last_boxed_skips_empty_boxes():
    assert last_boxed(r"\boxed{3} \boxed{}") == "3"


# ------------------------------------------------------------------ numeric equivalence

NUMERIC_SAME = [
    ("18", "18"),
    ("18.0", "18"),
    ("18.00", "18"),
    ("+18", "18"),
    ("018", "18"),
    (" 18 ", "18"),
    ("18.", "18"),
    ("$18", "18"),
    ("\\$18", "18"),
    ("$18.00", "18"),
    ("18 dollars", "18"),
    ("18 apples", "18"),
    ("\\text{18 apples}", "18"),
    ("18 \\text{ dollars}", "18"),
    ("\\textbf{18}", "18"),
    ("\\mathrm{18}", "18"),
    ("**18**", "18"),
    ("1,234", "1234"),
    ("1,234,567", "1234567"),
    ("1{,}234", "1234"),
    ("$1,234.50", "1234.5"),
    ("-5", "-5"),
    ("\u22125", "-5"),
    ("-3.5", "-3.5"),
    ("0.5", "0.5"),
    (".5", "0.5"),
    ("1/2", "0.5"),
    ("3/4", "0.75"),
    ("\\frac{3}{4}", "0.75"),
    ("\\dfrac{3}{4}", "0.75"),
    ("\\tfrac{3}{4}", "0.75"),
    ("\\frac34", "0.75"),
    ("-\\frac{1}{2}", "-0.5"),
    ("2 1/2", "2.5"),
    ("2\\frac{1}{2}", "2.5"),
    ("x = 3", "3"),
    ("x=3", "3"),
    ("y = -2", "-2"),
    ("9 * 2 = 18", "18"),
    ("\\approx 3.14", "3.14"),
    ("25%", "25"),
    ("25\\%", "25"),
    ("25%", "0.25"),
    ("25 %", "25"),
    ("50 percent", "50"),
    ("0.3333", "1/3"),
    ("33.33", "33.333"),
    ("1e3", "1000"),
    ("5 cm^2", "5"),
    ("90^\\circ", "90"),
    ("90°", "90"),
    ("#### 72", "72"),
    ("72", "Natalia sold 48/2 = 24 clips in May.\n#### 72"),
    ("\\boxed{72}", "72"),
    ("5 hours", "5"),
    ("\\left(5\\right)", "5"),
    ("1000000", "1,000,000"),
    ("7.", "7"),
    ("7!", "7"),
    ("It is 12", "12"),
    ("18 (9 * 2)", "18"),
    ("2 + 3 = 5", "5"),
    ("1.5 \\times 10^{3}", "1500"),
    ("2.5\\cdot10^{-2}", "0.025"),
]

NUMERIC_DIFFERENT = [
    ("12", "120"),
    ("120", "12"),
    ("0.5", "5"),
    ("5", "0.5"),
    ("-5", "5"),
    ("5", "-5"),
    ("1000001", "1000000"),
    ("1,000,001", "1000000"),
    ("18.5", "18"),
    ("18.01", "18"),
    ("17", "18"),
    ("1/3", "0.33"),
    ("3/4", "4/3"),
    ("\\frac{4}{3}", "0.75"),
    ("2.5", "25"),
    ("25", "0.25"),
    ("12", "12.5"),
    ("eighteen", "18"),
    ("", "18"),
    ("   ", "18"),
    ("none", "0"),
    ("1/0", "0"),
    ("0", "1"),
    ("100", "1"),
    ("1,2", "12"),
    ("2 + 3", "2"),
    ("2 \\times 9", "2"),
    ("5 - 3", "5"),
    ("2, 3", "2"),
]


@pytest.mark.parametrize("kind", ["svamp", "gsm8k", "numeric"])
@pytest.mark.parametrize(("pred", "gold"), NUMERIC_SAME)
def test_numeric_answers_that_are_equal_match(pred, gold, kind):
    assert answers_match(pred, gold, kind)


@pytest.mark.parametrize("kind", ["svamp", "gsm8k", "numeric"])
@pytest.mark.parametrize(("pred", "gold"), NUMERIC_DIFFERENT)
def test_numeric_answers_that_differ_do_not_match(pred, gold, kind):
    assert not answers_match(pred, gold, kind)


@pytest.mark.parametrize("kind", ["svamp", "gsm8k", "numeric", "math"])
def test_none_never_matches(kind):
    assert not answers_match(None, "18", kind)


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown dataset kind"):
        answers_match("1", "1", "chess")


def test_integers_compare_exactly_even_when_large():
    assert not answers_match("100000001", "100000000", "gsm8k")


def test_non_integers_compare_within_relative_tolerance():
    assert answers_match("2.50001", "2.5", "numeric")


# ------------------------------------------------------------------ MATH equivalence

MATH_SAME = [
    ("\\frac{1}{2}", "\\frac{1}{2}"),
    ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("\\dfrac12", "\\frac{1}{2}"),
    ("\\tfrac{1}{2}", "\\frac{1}{2}"),
    ("\\frac12", "\\frac{1}{2}"),
    ("1/2", "\\frac{1}{2}"),
    ("0.5", "\\frac{1}{2}"),
    ("\\frac{1}{2}", "0.5"),
    ("$\\frac{1}{2}$", "\\frac{1}{2}"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\frac{2}{4}", "\\frac{1}{2}"),
    ("x=3", "3"),
    ("x = 3", "3"),
    ("3", "x=3"),
    ("3.0", "3"),
    ("10,000", "10000"),
    ("10,\\!000", "10000"),
    ("10{,}000", "10000"),
    ("90^\\circ", "90"),
    ("90^{\\circ}", "90"),
    ("10\\%", "10"),
    ("5\\text{ cm}", "5"),
    ("5 \\text{cm}", "5"),
    ("5 units", "5"),
    ("\\$5", "5"),
    ("\\text{(A)}", "(A)"),
    ("\\text{Monday}", "\\text{Monday}"),
    ("\\left( 3, -1 \\right)", "(3,-1)"),
    ("(3, -1)", "(3,-1)"),
    ("(1,2]", "(1,2]"),
    ("(1, 2]", "(1,2]"),
    ("[2,5)", "[2, 5)"),
    ("(-\\infty, 0)", "(-\\infty,0)"),
    ("(-\\infty,0)\\cup(1,\\infty)", "(-\\infty, 0) \\cup (1, \\infty)"),
    ("\\infty", "\\infty"),
    ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}"),
    ("\\frac{\\sqrt2}{2}", "\\frac{\\sqrt{2}}{2}"),
    ("\\sqrt2", "\\sqrt{2}"),
    ("2\\sqrt{2}", "\\sqrt{8}"),
    ("3\\sqrt{3}", "\\sqrt{27}"),
    ("x^2+1", "1+x^2"),
    ("2x+1", "1+2x"),
    ("\\pi/3", "\\frac{\\pi}{3}"),
    ("\\frac{a}{b}", "a/b"),
    ("-\\frac{1}{3}", "\\frac{-1}{3}"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
    ("\\{1,2\\}", "\\{2,1\\}"),
    ("9^{9}", "387420489"),
    ("10!", "3628800"),
    ("2^{10}", "1024"),
    ("-3", "- 3"),
    ("\\left[ 1, 2 \\right]", "[1,2]"),
    (".5", "0.5"),
    ("\\displaystyle\\frac{1}{2}", "\\frac{1}{2}"),
]

MATH_DIFFERENT = [
    ("12", "120"),
    ("0.5", "5"),
    ("\\frac{1}{2}", "\\frac{1}{3}"),
    ("\\frac{1}{2}", "2"),
    ("(1,2]", "[1,2]"),
    ("(1,2)", "(1,2]"),
    ("[1,2]", "(1,2)"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\3\\end{pmatrix}"),
    ("x", "y"),
    ("x^2", "x^3"),
    ("\\sqrt{2}", "2"),
    ("\\sqrt{3}", "\\sqrt{2}"),
    ("\\pi", "3.14159"),
    ("1/3", "0.33"),
    ("-3", "3"),
    ("(3,1)", "(1,3)"),
    ("\\infty", "-\\infty"),
    ("2^{2^{2^{30}}}", "5"),
    ("10^{10^{10}}", "1"),
    ("10000000!", "1"),
    ("2^{10000000000}", "2"),
    ("", "1"),
    ("\\text{Tuesday}", "\\text{Monday}"),
    ("a" * 500, "1"),
]


@pytest.mark.parametrize(("pred", "gold"), MATH_SAME)
def test_math_answers_that_are_equal_match(pred, gold):
    assert answers_match(pred, gold, "math")


@pytest.mark.parametrize(("pred", "gold"), MATH_DIFFERENT)
def test_math_answers_that_differ_do_not_match(pred, gold):
    assert not answers_match(pred, gold, "math")


def test_math_gold_in_solution_form_uses_its_last_box():
    assert answers_match("5", r"We get \boxed{4} then correct to \boxed{5}.", "math")


def test_math_check_works_off_the_main_thread():
    results = []
    worker = threading.Thread(target=lambda: results.append(answers_match("\\dfrac12", "0.5000", "math")))
    worker.start()
    worker.join()
    assert results == [True]


def test_math_check_works_under_asyncio_to_thread():
    async def check():
        return await asyncio.to_thread(answers_match, "x^2+2x+1", "(x+1)^2", "math")

    assert asyncio.run(check())


def test_math_check_of_power_tower_returns_quickly():
    start = time.monotonic()
    assert not answers_match("2^{2^{2^{2^{64}}}}", "3", "math")
    assert time.monotonic() - start < 2.0


# ------------------------------------------------------------------ normalisation and numbers

NORMALIZED = [
    ("\\left( 1, 2 \\right)", "(1,2)"),
    ("\\dfrac{3}{4}", "\\frac{3}{4}"),
    ("\\frac34", "\\frac{3}{4}"),
    ("3/4", "\\frac{3}{4}"),
    ("90^\\circ", "90"),
    ("10\\%", "10"),
    ("5\\text{ cm}", "5"),
    ("x = 7", "7"),
    ("1,000", "1000"),
    ("\\$4.50", "4.50"),
    (".5", "0.5"),
    ("\\sqrt3", "\\sqrt{3}"),
    ("\\text{east}", "east"),
    ("7.", "7"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZED)
def test_normalize_math_canonical_form(raw, expected):
    assert normalize_math(raw) == expected


PARSED = [
    ("18", Fraction(18)),
    ("$1,234.50", Fraction(2469, 2)),
    ("-\\frac{1}{4}", Fraction(-1, 4)),
    ("25%", Fraction(25)),
    ("#### 7", Fraction(7)),
    ("12 eggs", Fraction(12)),
    ("abc", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse_number_reads_the_stated_number(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(51.0, "51"), (0.5, "0.5"), (7, "7"), ("1,000", "1000"), (" 42 ", "42"), (Fraction(3, 2), "1.5"), (-2.0, "-2")],
)
def test_format_number_is_canonical(value, expected):
    assert format_number(value) == expected


# ------------------------------------------------------------------ majority and parse rate

MAJORITIES = [
    (["3", "3.0", "4"], "numeric", "3"),
    (["4", "3", "3.0"], "numeric", "3"),
    (["4", "3"], "numeric", "4"),
    ([None, "5", None], "gsm8k", "5"),
    ([None, None], "gsm8k", None),
    ([], "svamp", None),
    (["", "  ", "2"], "svamp", "2"),
    (["1,000", "1000", "999"], "gsm8k", "1,000"),
    (["\\frac{1}{2}", "0.5", "1/3"], "math", "\\frac{1}{2}"),
    (["x=2", "2", "3", "3", "3"], "math", "3"),
]


@pytest.mark.parametrize(("answers", "kind", "expected"), MAJORITIES)
def test_majority_answer_counts_equivalent_answers_together(answers, kind, expected):
    assert majority_answer(answers, kind) == expected


@pytest.mark.parametrize(
    ("answers", "expected"),
    [(["1", None], 0.5), ([None, None], 0.0), ([], 0.0), (["1", "2", "x", ""], 0.75), (iter(["1"]), 1.0)],
)
def test_parse_rate_is_fraction_of_present_answers(answers, expected):
    assert parse_rate(answers) == expected


# ------------------------------------------------------------------ every shipped gold


@pytest.fixture(scope="module")
def gsm8k_test():
    return load_splits(OmegaConf.load("conf/dataset/gsm8k.yaml"), seed=0).test


@pytest.fixture(scope="module")
def svamp_all():
    splits = load_splits(OmegaConf.load("conf/dataset/svamp.yaml"), seed=0)
    return splits.train + splits.test


def test_every_gsm8k_test_solution_yields_its_gold(gsm8k_test):
    assert len(gsm8k_test) == 1319
    wrong = [p.id for p in gsm8k_test if not answers_match(extract_answer(p.solution), p.answer, "gsm8k")]
    assert wrong == []


def test_no_gsm8k_test_solution_matches_the_next_integer(gsm8k_test):
    wrong = [
        p.id for p in gsm8k_test if answers_match(extract_answer(p.solution), str(parse_number(p.answer) + 1), "gsm8k")
    ]
    assert wrong == []


SVAMP_TEMPLATES = [
    "{q} Working it out, the answer is \\boxed{{{a}}}",
    "{q} A first try gives \\boxed{{{w}}}, but rechecking: \\boxed{{{a}}}.",
    "{q} So she needs {w} minus the rest. The answer is {a}.",
    "{q} Step 1: {w} ... step 2 gives the result.\n#### {a}",
    "{q} After the steps we are left with {a}",
    "{q} Final answer: ${a}$",
]


def test_every_svamp_gold_is_recovered_from_written_answers(svamp_all):
    assert len(svamp_all) == 1000
    wrong = []
    for i, p in enumerate(svamp_all):
        wrong_guess = format_number(parse_number(p.answer) + 7)
        text = SVAMP_TEMPLATES[i % len(SVAMP_TEMPLATES)].format(q=p.question, a=p.answer, w=wrong_guess)
        if not answers_match(extract_answer(text), p.answer, "svamp"):
            wrong.append(p.id)
    assert wrong == []


def test_no_svamp_gold_matches_a_tenfold_answer(svamp_all):
    wrong = [
        p.id
        for p in svamp_all
        if parse_number(p.answer) != 0 and answers_match(f"\\boxed{{{p.answer}0}}", p.answer, "svamp")
    ]
    assert wrong == []
