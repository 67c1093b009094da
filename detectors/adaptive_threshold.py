"""Adaptive threshold: an exponentially weighted baseline (mean and variance) of a numeric series.

Fed with window means of a log-transformed signal (latency, tokens, cost) it follows slow change and the daily rhythm
and flags points far outside its band; ``side`` says which direction is a problem (``both`` where a drop matters,
e.g. output tokens collapsing to zero).

>>> import random
>>> rng = random.Random(7)
>>> d = AdaptiveThreshold(side="upper")
>>> for _ in range(200):
...     d.learn_one(rng.gauss(0.0, 0.1))
>>> round(d.score_one(0.05), 2), round(d.score_one(0.6), 4), d.score_one(-0.6)
(0.34, 1.0, 0.0)
"""
from __future__ import annotations

import math

from inferwatch.detectors.ewstats import EWStats
from inferwatch.detectors.pickling import Slotted
from inferwatch.detectors.scoring import normal_score


class AdaptiveThreshold(Slotted):
    """EW mean/variance baseline; score = normal tail of the z-score on the problem ``side``. Its ``half_life`` is
    the baseline's (kept once, in ``stats``)."""

    __slots__ = ("side", "min_std", "min_shift", "stats")

    def __init__(self, side: str = "upper", half_life: float = 120.0, min_std: float = 0.05,
                 min_shift: float = 0.0) -> None:
        self.side = side
        self.min_std = min_std
        #: a point closer than this to the mean scores 0 whatever the spread: the effect must matter, not only be
        #: statistically real (a 5 % latency wobble on a busy route, a small tenant's token mix)
        self.min_shift = min_shift
        self.stats = EWStats(half_life)

    @property
    def half_life(self) -> float:
        return self.stats.half_life

    def learn_one(self, x: float) -> None:
        self.stats.update(x)

    def std(self) -> float:
        return math.sqrt(self.stats.var + self.min_std * self.min_std)

    def score_one(self, x: float) -> float:
        if self.stats.n == 0 or abs(x - self.stats.mean) < self.min_shift:
            return 0.0
        std = self.std()
        if std == 0.0:  # a perfectly flat history with no floor: any change is maximally surprising
            return 0.0 if x == self.stats.mean else normal_score(math.copysign(math.inf, x - self.stats.mean), self.side)
        return normal_score((x - self.stats.mean) / std, self.side)

    def explain_one(self, x: float) -> tuple[float, float]:
        return x, self.stats.mean

    def rebase(self, points: list[float], max_shift: float) -> bool:
        """A lasting moderate shift is the new normal: the mean jumps to it, the learned spread stays."""
        if not points:
            return False
        level = sum(points) / len(points)
        if abs(level - self.stats.mean) > max_shift:
            return False
        self.stats.mean = level
        return True
