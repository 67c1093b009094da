"""Exponentially weighted mean and variance, the baseline several detectors share.

Until ``1/alpha`` points are seen it is a plain running mean/variance, so early estimates are not biased to zero.
Pickled as four numbers (``alpha`` follows from ``half_life`` on restore).

>>> s = EWStats(half_life=50.0)
>>> for x in [1.0, 2.0, 3.0]:
...     s.update(x)
>>> s.n, s.mean, round(s.var, 4)
(3, 2.0, 0.6667)
"""
from __future__ import annotations

from inferwatch.detectors.pickling import Slotted


class EWStats(Slotted):
    __slots__ = ("half_life", "n", "mean", "var", "alpha")
    _derived = ("alpha",)

    def __init__(self, half_life: float) -> None:
        self.half_life = half_life
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self._derive()

    def _derive(self) -> None:
        self.alpha = 1.0 - 0.5 ** (1.0 / self.half_life)

    def update(self, x: float) -> None:
        self.n += 1
        alpha = max(self.alpha, 1.0 / self.n)
        delta = x - self.mean
        self.mean += alpha * delta
        self.var = (1.0 - alpha) * (self.var + alpha * delta * delta)
