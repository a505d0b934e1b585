"""Datasets (problems, splits) and answer checking (extraction, equivalence, majority)."""

from econ.data.answers import (
    answers_match,
    extract_answer,
    format_number,
    last_boxed,
    majority_answer,
    normalize_math,
    parse_number,
    parse_rate,
)
from econ.data.datasets import Problem, Splits, load_splits

__all__ = [
    "Problem",
    "Splits",
    "answers_match",
    "extract_answer",
    "format_number",
    "last_boxed",
    "load_splits",
    "majority_answer",
    "normalize_math",
    "parse_number",
    "parse_rate",
]
