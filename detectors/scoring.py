"""Turning test statistics into scores in [0, 1] that mean the same surprise everywhere.

A score is one minus a two-sided-equivalent p-value: 0 for "exactly as expected", 0.99 for a 1-in-100 surprise,
0.9999 for 1-in-10,000. The normal and Poisson versions agree, so a latency z-score and an error-count tail can be
compared against one threshold.

>>> round(normal_score(3.29, "upper"), 4), normal_score(-3.0, "upper"), round(normal_score(-3.29, "both"), 4)
(0.999, 0.0, 0.999)
>>> round(poisson_score(1, 0.24), 2), round(poisson_score(12, 0.24), 6)
(0.57, 1.0)
>>> round(count_score(19, 6.4, 7.4, "both"), 4), round(count_score(0, 100, 101, "both"), 4)
(0.9996, 1.0)
>>> count_score(0, 100, 101, "upper"), count_score(130, 100, 101, "lower")
(0.0, 0.0)
"""
from __future__ import annotations

import math

from scipy.special import betainc, chdtrc, pdtrc

_SQRT2 = math.sqrt(2.0)


def normal_score(z: float, side: str) -> float:
    """Score of a z-statistic; ``side`` is ``upper``, ``lower`` or ``both`` (which direction is a problem)."""
    if side == "upper":
        z = max(z, 0.0)
    elif side == "lower":
        z = max(-z, 0.0)
    else:
        z = abs(z)
    return math.erf(z / _SQRT2)


def poisson_score(k: float, lam: float) -> float:
    """Score of seeing ``k`` or more events where ``lam`` were expected (upper tail only; fewer is never a problem)."""
    if k <= lam:
        return 0.0
    tail = float(pdtrc(math.ceil(k) - 1, max(lam, 1e-12)))
    return max(0.0, 1.0 - min(1.0, 2.0 * tail))


def chi2_score(statistic: float, dof: int) -> float:
    """Score of a chi-square (or G) statistic with ``dof`` degrees of freedom."""
    if dof < 1 or statistic <= 0:
        return 0.0
    return 1.0 - float(chdtrc(dof, statistic))


def count_score(k: float, mean: float, var: float, side: str) -> float:
    """Score of a count ``k`` where ``mean`` was expected with variance ``var`` (more than ``mean``): the tails of a
    negative binomial, so a small count gets its real, right-skewed tails (19 calls where 6.4 were expected is a
    1-in-2,700 surprise, not the normal approximation's 1-in-270,000) and a large one the normal's."""
    mean = max(mean, 1e-9)
    p = mean / var
    r = mean * mean / (var - mean)
    k = round(k)
    if k > mean and side in ("upper", "both"):
        tail = float(betainc(k, r, 1.0 - p))  # P(X >= k)
    elif k < mean and side in ("lower", "both"):
        tail = float(betainc(r, k + 1, p))  # P(X <= k)
    else:
        return 0.0
    return max(0.0, 1.0 - 2.0 * tail)
