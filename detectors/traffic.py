"""Request rate of a series over event time: a surge, a drop, or silence (a series that stops sending).

The observation is the count of calls in the recent window, silent buckets included (closed by the watermark).
The baseline is an EW mean and variance of that count, with a Poisson floor on the variance so a low-volume series is
not judged on a variance it has not shown yet.

>>> d = TrafficRate()
>>> for i in range(200):
...     d.learn_one(100.0 + (i % 7) - 3)
>>> d.score_one(104.0) < 0.9, round(d.score_one(0.0), 4), round(d.score_one(300.0), 4)
(True, 1.0, 1.0)
"""
from __future__ import annotations

import math
import random

from detectors.ewstats import EWStats
from detectors.scoring import normal_score


class TrafficRate:
    """EW mean/variance of window counts; two-sided score (``side`` may restrict it)."""

    def __init__(self, side: str = "both", half_life: float = 120.0) -> None:
        self.side = side
        self.half_life = half_life
        self.stats = EWStats(half_life)

    def learn_one(self, x: float) -> None:
        self.stats.update(x)

    def score_one(self, x: float) -> float:
        if self.stats.n == 0:
            return 0.0
        return normal_score((x - self.stats.mean) / math.sqrt(max(self.stats.var, self.stats.mean) + 1.0), self.side)

    def explain_one(self, x: float) -> tuple[float, float]:
        return x, self.stats.mean

    @classmethod
    def labelled_stream(cls, seed: int) -> list[tuple[float, bool]]:
        rng = random.Random(seed)
        out = []
        for i in range(400):
            lam = 60.0 * (1 + 0.3 * math.sin(i / 60.0))
            anomalous = 300 <= i < 310 or 350 <= i < 360
            if 300 <= i < 310:
                lam *= 3
            elif 350 <= i < 360:
                lam = 0.0
            out.append((float(sum(rng.random() < lam / 200 for _ in range(200))), anomalous))
        return out
