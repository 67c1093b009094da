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
import random

from detectors.scoring import normal_score


class AdaptiveThreshold:
    """EW mean/variance baseline; score = normal tail of the z-score on the problem ``side``."""

    def __init__(self, side: str = "upper", half_life: float = 120.0, min_std: float = 0.05) -> None:
        self.side = side
        self.half_life = half_life
        self.min_std = min_std
        self._alpha = 1.0 - 0.5 ** (1.0 / half_life)
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    def learn_one(self, x: float) -> None:
        self.n += 1
        # a plain average until the EW window is full keeps early estimates unbiased
        alpha = max(self._alpha, 1.0 / self.n)
        delta = x - self.mean
        self.mean += alpha * delta
        self.var = (1.0 - alpha) * (self.var + alpha * delta * delta)

    def std(self) -> float:
        return math.sqrt(self.var + self.min_std * self.min_std)

    def score_one(self, x: float) -> float:
        if self.n == 0:
            return 0.0
        return normal_score((x - self.mean) / self.std(), self.side)

    def explain_one(self, x: float) -> tuple[float, float]:
        return x, self.mean

    @classmethod
    def labelled_stream(cls, seed: int) -> list[tuple[float, bool]]:
        """Noise around a slowly moving level with a few level jumps, for the contract test."""
        rng = random.Random(seed)
        return [(0.001 * i + rng.gauss(0, 0.1) + (0.8 if 300 <= i < 310 else 0.0), 300 <= i < 310) for i in range(400)]
