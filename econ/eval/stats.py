"""Uncertainty of accuracies: a Wilson interval for one method, paired statistics for two on the same problems."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (sane at 0 and n, unlike the normal one)."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class PairedDifference:
    """Accuracy of method A minus method B over the same n problems, with its uncertainty.

    ci95: percentile interval of the difference over a seeded bootstrap that resamples problems
    (each resample keeps a problem's pair of outcomes together). mcnemar_p: exact two-sided
    McNemar test, a binomial test of a_only against b_only (the problems only one method solved),
    1.0 when there are none.
    """

    n: int
    difference: float
    ci95: tuple[float, float]
    a_only: int  # problems A solved and B did not
    b_only: int  # problems B solved and A did not
    mcnemar_p: float

    def to_json(self) -> dict:
        return {**asdict(self), "ci95": list(self.ci95)}


def paired_difference(
    a: Mapping[str, bool], b: Mapping[str, bool], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> PairedDifference:
    """acc(A) − acc(B) from per-problem correctness keyed by problem id; both must cover the same problems."""
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))
        raise ValueError(f"paired_difference: the methods saw different problems (e.g. {only[:3]})")
    if not a:
        raise ValueError("paired_difference: no problems to compare")
    ids = sorted(a)
    x = np.array([float(a[i]) for i in ids])
    y = np.array([float(b[i]) for i in ids])
    difference = float((x.sum() - y.sum()) / len(ids))
    if len(ids) == 1:  # every resample of one problem is that problem (scipy needs two)
        ci = (difference, difference)
    else:
        interval = stats.bootstrap(
            (x, y),
            lambda u, v, axis: u.mean(axis=axis) - v.mean(axis=axis),
            paired=True,
            vectorized=True,
            n_resamples=resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        ci = (float(interval.low), float(interval.high))
    a_only, b_only = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
    discordant = a_only + b_only
    p = stats.binomtest(min(a_only, b_only), discordant, 0.5).pvalue if discordant else 1.0
    return PairedDifference(len(ids), difference, ci, a_only, b_only, float(min(p, 1.0)))
