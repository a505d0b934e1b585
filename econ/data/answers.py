"""Answer extraction and equivalence for SVAMP / GSM8K (numeric) and MATH (symbolic).

Extraction: the LAST ``\\boxed{}``/``\\fbox{}`` (brace-matched), else the last
final-answer phrase ("The answer is …", "Final answer: …", "#### …"), else the
last number in the text.

Equivalence, by kind:
- numeric (``svamp``, ``gsm8k``, ``numeric``): both sides are read as exact
  fractions after stripping ``$``, thousands commas, ``\\text{}``, units and
  words; integers must be equal, other values equal within a relative 1e-4.
  ``x%`` stands for x or x/100. A gold with ``####`` uses the part after it.
- ``math``: Hendrycks-style normalisation then string equality, else
  ``math_verify.verify(parse(gold), parse(pred))`` with its signal-based
  timeouts off (so it runs in any thread); inputs that could make sympy
  evaluate astronomically large numbers are not sent to it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from fractions import Fraction

NUMERIC_KINDS = frozenset({"svamp", "gsm8k", "numeric"})
KINDS = NUMERIC_KINDS | {"math"}

_REL_TOL = Fraction(1, 10_000)
_MAX_VERIFY_CHARS = 256

# ---------------------------------------------------------------- extraction

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+"
_LAST_NUMBER_RE = re.compile(rf"(?<![\w.])-?(?:{_NUMBER})(?:\s*/\s*\d+(?![\d.]))?")
_FINAL_RE = re.compile(  # the marker only: its answer runs from the marker to the end of the line
    r"####|\b(?:final\s+|correct\s+)?answer\b\s*(?:\*\*)?\s*(?:is\b|:|=)\s*(?:\*\*)?\s*[:=]?",
    re.IGNORECASE,
)
_SENTENCE_END_RE = re.compile(r"\.(?!\d)")


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """Content of the ``{...}`` opening at ``text[start]`` and the index after it; None if unclosed."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "\\":
            continue
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    return None


def _boxes(text: str) -> list[str]:
    """Contents of the top-level boxes, in order; unclosed boxes are skipped."""
    found: list[str] = []
    pos = 0
    while (m := _BOX_RE.search(text, pos)) is not None:
        i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            got = _braced(text, i)
            if got is None:
                pos = m.end()
                continue
            content, pos = got
        else:  # "\boxed 5": the next token, up to a space or "$"
            tok = re.match(r"[^\s$]+", text[i:])
            content, pos = (tok.group(0), i + tok.end()) if tok else ("", i)
        content = content.strip()
        if _BOX_RE.search(content):  # "\boxed{\boxed{5}}"
            inner = _boxes(content)
            content = inner[-1] if inner else content
        if content:
            found.append(content)
    return found


def _clean_phrase(s: str) -> str:
    s = s.replace("**", "").strip()
    for opener, closer in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(opener) and closer in s[len(opener) :]:  # "$\frac{3}{4}$ of the pie"
            return s[len(opener) :].split(closer, 1)[0].strip()
    return _SENTENCE_END_RE.split(s, maxsplit=1)[0].strip().strip("$").strip()


def extract_answer(text: str | None) -> str | None:
    """Final answer in a model output: last box, else last answer phrase, else last number."""
    if not text:
        return None
    boxes = _boxes(text)
    if boxes:
        return boxes[-1]
    for m in reversed(list(_FINAL_RE.finditer(text))):
        phrase = _clean_phrase(text[m.end() :].split("\n", 1)[0])
        if phrase:
            return phrase
    numbers = _LAST_NUMBER_RE.findall(text)
    return numbers[-1].replace(" ", "") if numbers else None


def last_boxed(text: str) -> str | None:
    """Content of the last non-empty ``\\boxed{}``/``\\fbox{}`` in ``text`` (brace-matched), or None."""
    boxes = _boxes(text)
    return boxes[-1] if boxes else None


def parse_rate(answers: Iterable[str | None]) -> float:
    """Fraction of extracted answers (as returned by extract_answer) that are present and non-blank."""
    items = list(answers)
    return sum(1 for a in items if a is not None and a.strip()) / len(items) if items else 0.0


# ---------------------------------------------------------------- numbers

_WRAPPER_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_LATEX_NOISE = (
    "\\left",
    "\\right",
    "\\displaystyle",
    "\\!",
    "\\,",
    "\\;",
    "\\:",
    "\\ ",
    "~",
    "\\$",
    "$",
    "**",
)
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°")
_UNIT_POWER_RE = re.compile(r"(?<=[A-Za-z])\s*\^\s*\{?[23]\}?")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_FRAC_RE = r"\\frac\s*(?:\{\s*(?P<fn1>\d+)\s*\}|(?P<fn2>\d))\s*(?:\{\s*(?P<fd1>\d+)\s*\}|(?P<fd2>\d))"
_SIGN = r"(?P<sign>[+-]?)\s*"
_FULL_FORMS = [
    re.compile(rf"^{_SIGN}(?P<whole>\d+)\s+(?P<num>\d+)\s*/\s*(?P<den>\d+)$"),
    re.compile(rf"^{_SIGN}(?P<whole>\d+)\s*{_FRAC_RE}$"),
    re.compile(rf"^{_SIGN}{_FRAC_RE}$"),
    re.compile(rf"^{_SIGN}(?P<num>\d+(?:\.\d+)?)\s*/\s*(?P<den>\d+(?:\.\d+)?)$"),
    re.compile(rf"^{_SIGN}(?P<dec>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{{1,3}})?)$"),
    re.compile(
        rf"^{_SIGN}(?P<mant>\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|×|\*)\s*10\s*\^\s*\{{?(?P<exp>[+-]?\d{{1,3}})\}}?$"
    ),
]
_TOKEN_RE = re.compile(rf"(?<![\w.])-?(?:{_FRAC_RE}|\d+(?:\.\d+)?\s*/\s*\d+(?![\d.])|\d+(?:\.\d+)?|\.\d+)(?:\s*%)?")


def _numeric_text(s: str) -> str:
    """Strip the LaTeX, currency, units-adjacent noise and thousands commas around a number."""
    if "####" in s:
        s = s.rsplit("####", 1)[1]
    boxes = _boxes(s)
    if boxes:
        s = boxes[-1]
    for _ in range(3):
        s = _WRAPPER_RE.sub(r" \1 ", s)
    for noise in _LATEX_NOISE:
        s = s.replace(noise, " ")
    s = s.replace("{,}", ",").replace("\\%", "%").replace("\u2212", "-")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _DEGREE_RE.sub(" ", s)
    s = _UNIT_POWER_RE.sub(" ", s)
    s = re.split(r"=|\\approx|≈", s)[-1]
    s = _THOUSANDS_RE.sub("", s)
    return s.strip().rstrip(".,;:!?").strip()


def _full_value(s: str) -> Fraction | None:
    for form in _FULL_FORMS:
        m = form.match(s)
        if m is None:
            continue
        g = m.groupdict()
        if g.get("dec") is not None:
            value = Fraction(g["dec"])
        elif g.get("mant") is not None:
            value = Fraction(g["mant"]) * Fraction(10) ** int(g["exp"])
        else:
            num = g.get("num") or g.get("fn1") or g.get("fn2")
            den = g.get("den") or g.get("fd1") or g.get("fd2")
            if Fraction(den) == 0:
                return None
            value = Fraction(num) / Fraction(den) + int(g.get("whole") or 0)
        return -value if g["sign"] == "-" else value
    return None


def _candidates(text: str) -> list[Fraction]:
    """The values a numeric answer may stand for (two for a percentage: x and x/100); [] if none."""
    s = _numeric_text(text)
    percent = s.endswith("%")
    s = s.rstrip("%").strip()
    value = _full_value(s)
    if value is None:
        m = _TOKEN_RE.search(s)
        if m is None:
            return []
        if re.match(r"\s*(?:[-+*/×÷^,]|\\times|\\cdot)\s*\d", s[m.end() :]):
            return []  # an expression ("2 + 3") or a list ("2, 3") is not its first number
        token = m.group(0)
        percent = token.rstrip().endswith("%")
        value = _full_value(token.rstrip("% "))
        if value is None:
            return []
    return [value, value / 100] if percent else [value]


def parse_number(text: str | None) -> Fraction | None:
    """The number a numeric answer states (``"$1,234.50"`` → 2469/2, ``"25%"`` → 25), or None."""
    values = _candidates(text) if text else []
    return values[0] if values else None


def format_number(value: float | int | Fraction | str) -> str:
    """Canonical gold string: ``51.0`` → ``"51"``, ``0.5`` → ``"0.5"``, ``"1,000"`` → ``"1000"``."""
    if isinstance(value, str):
        return _THOUSANDS_RE.sub("", value.strip())
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else repr(float(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _close(a: Fraction, b: Fraction) -> bool:
    if a.denominator == 1 and b.denominator == 1:
        return a == b
    return abs(a - b) <= _REL_TOL * max(abs(a), abs(b))


def _numbers_match(pred: str, gold: str) -> bool:
    golds, preds = _candidates(gold), _candidates(pred)
    return any(_close(p, g) for p in preds for g in golds)


# ---------------------------------------------------------------- MATH

_UNIT_WORDS_RE = re.compile(r"^(?P<num>-?[\d.,/]+)\s+[A-Za-z][A-Za-z ]+$")
_SHORT_LHS_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*")
_PLAIN_FRAC_RE = re.compile(r"^(-?)(\d+)/(\d+)$")


def normalize_math(s: str) -> str:
    """Hendrycks-style canonical string of a MATH answer (spacing, \\left/\\right, \\dfrac, units, …)."""
    s = s.strip()
    boxes = _boxes(s)
    if boxes:
        s = boxes[-1]
    s = s.replace("\n", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    for noise in ("\\left", "\\right", "\\displaystyle", "\\!", "\\,", "\\;", "\\:", "\\$", "$"):
        s = s.replace(noise, "")
    s = _DEGREE_RE.sub("", s).replace("\\%", "").replace("%", "")
    for _ in range(3):
        s = _WRAPPER_RE.sub(r"\1", s)
    s = s.replace("{,}", ",").strip().rstrip(".").strip()
    if (m := _UNIT_WORDS_RE.match(s)) is not None:
        s = m.group("num")
    if s.count("=") == 1:
        s = _SHORT_LHS_RE.sub("", s)
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\sqrt\s*(\w)", r"\\sqrt{\1}", s)
    s = s.replace(" ", "")
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        s = s.replace(",", "")
    s = re.sub(r"(?<![\d}])\.(\d)", r"0.\1", s)
    if (m := _PLAIN_FRAC_RE.match(s)) is not None:
        s = f"{m.group(1)}\\frac{{{m.group(2)}}}{{{m.group(3)}}}"
    return s


def _exponent_is_huge(s: str) -> bool:
    """True when sympy might try to build a number with billions of digits (towers, huge n!)."""
    for m in re.finditer(r"\^|\*\*", s):
        rest = s[m.end() :].lstrip()
        if rest.startswith("{"):
            got = _braced(rest, 0)
            exponent = got[0] if got else rest
        else:
            exponent = re.match(r"[^\s+\-*/)]*", rest).group(0)
        if re.search(r"\^|\*\*|!|\d{7,}", exponent):
            return True
    return bool(re.search(r"\d{6,}\s*!|[)}]\s*!", s))


def _verify(gold: str, pred: str) -> bool:
    if max(len(gold), len(pred)) > _MAX_VERIFY_CHARS or _exponent_is_huge(gold) or _exponent_is_huge(pred):
        return False
    from math_verify import parse, verify

    try:
        g = parse(f"${gold}$", parsing_timeout=None)
        p = parse(f"${pred}$", parsing_timeout=None)
        return bool(g and p and verify(g, p, timeout_seconds=None))
    except Exception:  # a parser/sympy failure means "not shown equal", never a crash
        return False


def _math_match(pred: str, gold: str) -> bool:
    boxes = _boxes(gold)
    gold = boxes[-1] if boxes else gold
    pred_s, gold_s = pred.strip().strip("$").strip(), gold.strip().strip("$").strip()
    pred_n, gold_n = normalize_math(pred_s), normalize_math(gold_s)
    if not pred_n or not gold_n:
        return False
    if pred_n == gold_n:
        return True
    pred_v, gold_v = _full_value(pred_n), _full_value(gold_n)
    if pred_v is not None and gold_v is not None:
        return _close(pred_v, gold_v)
    return _verify(gold_s, pred_s) or ((gold_n, pred_n) != (gold_s, pred_s) and _verify(gold_n, pred_n))


# ---------------------------------------------------------------- public


def answers_match(pred: str | None, gold: str, dataset: str) -> bool:
    """Is ``pred`` the same answer as ``gold`` under the checker of kind ``dataset``?"""
    if pred is None or gold is None or not pred.strip() or not str(gold).strip():
        return False
    if dataset in NUMERIC_KINDS:
        return _numbers_match(pred, str(gold))
    if dataset == "math":
        return _math_match(pred, str(gold))
    raise ValueError(f"answers_match: unknown dataset kind {dataset!r}; use one of {sorted(KINDS)}")


def majority_answer(answers: list[str | None], dataset: str) -> str | None:
    """Most common answer under answers_match equivalence; ties go to the first seen; None if none."""
    groups: list[list[str]] = []  # each group: [representative, members...]
    for a in answers:
        if a is None or not a.strip():
            continue
        for group in groups:
            if answers_match(a, group[0], dataset):
                group.append(a)
                break
        else:
            groups.append([a])
    if not groups:
        return None
    return max(groups, key=len)[0]  # max keeps the first of equal-length groups


class _DropTimeoutWarning(logging.Filter):
    """math-verify warns once that its timeout is off; we bound inputs instead (see _verify)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_DropTimeoutWarning())
