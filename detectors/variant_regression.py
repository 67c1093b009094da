"""Variants (canary, A/B): each variant against the baseline variant, on latency or on error rate, in one window.

Comparing with the baseline variant *in the same window* removes everything both share (time of day, a provider
slowdown), so only a regression of the variant alone fires. Latency: Welch's z on mean log latency; errors: a
two-proportion z. The score is scaled down while the effect is under ``min_effect`` (a log-latency ratio, or an
absolute error-rate difference). The observation is ``{variant: [calls, errors, latency n, sum log, sum log^2]}``;
the detector has no learned state: the baseline variant *is* its baseline.

>>> d = VariantRegression("latency")
>>> same = {"stable": [900, 2, 900, 900 * 0.3, 900 * (0.09 + 0.09)], "canary": [90, 0, 90, 90 * 0.32, 90 * (0.1024 + 0.09)]}
>>> slower = {"stable": same["stable"], "canary": [90, 0, 90, 90 * 1.0, 90 * (1.0 + 0.09)]}
>>> round(d.score_one(same), 3), round(d.score_one(slower), 4), d.explain_one(slower), d.worst_variant(slower)
(0.045, 1.0, (2.7183, 1.3499), 'canary')
"""
from __future__ import annotations

import math

from inferwatch.detectors.pickling import Slotted
from inferwatch.detectors.scoring import normal_score

MIN_CALLS = 10


class VariantRegression(Slotted):
    __slots__ = ("metric", "baseline", "min_effect")

    def __init__(self, metric: str = "latency", baseline: str = "stable", min_effect: float | None = None) -> None:
        self.metric = metric
        self.baseline = baseline
        self.min_effect = min_effect if min_effect is not None else (0.2 if metric == "latency" else 0.02)

    def learn_one(self, x: dict) -> None:
        """Nothing to learn: every window compares with the baseline variant of the same window."""

    def _z(self, variant: list, base: list) -> tuple[float, float]:
        if self.metric == "latency":
            (n1, s1, q1), (n0, s0, q0) = variant[2:5], base[2:5]
            if n1 < MIN_CALLS or n0 < MIN_CALLS:
                return 0.0, 0.0
            m1, m0 = s1 / n1, s0 / n0
            v1, v0 = max(q1 / n1 - m1 * m1, 1e-6), max(q0 / n0 - m0 * m0, 1e-6)
            return (m1 - m0) / math.sqrt(v1 / n1 + v0 / n0), m1 - m0
        (n1, e1), (n0, e0) = variant[0:2], base[0:2]
        if n1 < MIN_CALLS or n0 < MIN_CALLS:
            return 0.0, 0.0
        pooled = (e1 + e0 + 0.5) / (n1 + n0 + 1.0)
        return (e1 / n1 - e0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0)), e1 / n1 - e0 / n0

    def _worst(self, x: dict) -> tuple[float, str | None]:
        base = x.get(self.baseline)
        worst, name = 0.0, None
        if base is None:
            return worst, name
        for variant, tally in x.items():
            if variant == self.baseline:
                continue
            z, effect = self._z(tally, base)
            score = normal_score(z, "upper") * min(1.0, max(effect, 0.0) / self.min_effect)
            if score > worst or name is None:
                worst, name = score, variant
        return worst, name

    def score_one(self, x: dict) -> float:
        return self._worst(x)[0]

    def worst_variant(self, x: dict) -> str | None:
        """The variant ``score_one`` and ``explain_one`` speak of: the one furthest behind the baseline variant."""
        return self._worst(x)[1]

    def explain_one(self, x: dict) -> tuple[float, float]:
        """``(value, expected)`` as every detector gives them: the worst variant's value and the baseline variant's
        (geometric mean latency in seconds, or error rate); which variant it is: ``worst_variant``."""
        name = self.worst_variant(x)
        if name is None:
            return 0.0, 0.0
        variant, base = x[name], x[self.baseline]
        if self.metric == "latency":
            return round(math.exp(variant[3] / max(variant[2], 1)), 4), round(math.exp(base[3] / max(base[2], 1)), 4)
        return round(variant[1] / max(variant[0], 1), 4), round(base[1] / max(base[0], 1), 4)
