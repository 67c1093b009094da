"""Request rate of a series over event time: a surge, a drop, or silence (a series that stops sending).

The observation is the count of calls in the recent window, silent buckets included (closed by the watermark).
The baseline is Holt's linear trend (an EW level plus an EW slope), so it follows the daily rhythm's rise and fall
instead of lagging behind it, with an EW variance of the forecast errors and a Poisson floor, so a low-volume
series is not judged on a variance it has not shown yet. The count is scored on a negative binomial's tails with
that mean and variance: on a small series (a tenant's few calls a minute) a normal approximation would call an
ordinary burst a one-in-a-million event.

>>> d = TrafficRate()
>>> for i in range(400):
...     d.learn_one(100.0 + 0.2 * i + (i % 7) - 3)
>>> d.explain_one(180.0)[1] > 175, d.score_one(182.0) < 0.9, round(d.score_one(0.0), 4), round(d.score_one(400.0), 4)
(True, True, 1.0, 1.0)
"""
from __future__ import annotations

import math
import random

from detectors.scoring import count_score


class TrafficRate:
    """Holt level + trend forecast of window counts; two-sided score (``side`` may restrict it)."""

    def __init__(self, side: str = "both", half_life: float = 20.0, trend_half_life: float = 60.0) -> None:
        self.side = side
        self.half_life = half_life
        self.trend_half_life = trend_half_life
        self._alpha = 1.0 - 0.5 ** (1.0 / half_life)
        self._beta = 1.0 - 0.5 ** (1.0 / self.trend_half_life)
        self.n = 0
        self.level = 0.0
        self.trend = 0.0
        self.var = 0.0

    def forecast(self) -> float:
        return max(self.level + self.trend, 0.0)

    def learn_one(self, x: float) -> None:
        self.n += 1
        if self.n == 1:
            self.level = x
            return
        alpha = max(self._alpha, 1.0 / self.n)
        error = x - (self.level + self.trend)
        self.var += alpha * (error * error - self.var)
        self.level += self.trend + alpha * error
        self.trend += alpha * self._beta * error

    def score_one(self, x: float) -> float:
        if self.n == 0:
            return 0.0
        expected = self.forecast()
        return count_score(x, expected, max(self.var, expected) + 1.0, self.side)

    def explain_one(self, x: float) -> tuple[float, float]:
        return x, self.forecast()

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
