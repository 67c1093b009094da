"""SLO burn rate, in the manner of the Google SRE workbook: multi-window, multi-burn-rate.

An SLO says ``objective`` of calls are good. The burn rate is the bad fraction over the error budget (1 - objective).
It pages when both a long and a short window burn fast (default 1 h and 5 min at 14.4x: 2 % of a 30-day budget in an
hour) and warns on a slower burn over longer windows (6 h and 30 min at 6x). Windows are exponentially weighted with
the same lengths, so the state is a few numbers, not hours of buckets. The observation is one bucket's
``(bad, calls)``; the detector records it on ``learn_one``. The score is ``level`` for a slow burn exactly at its
threshold and ``critical`` for a fast one, so the episode's usual score thresholds give warning and critical.

Evidence: a window is judged only once it holds ``MIN_CALLS`` events, so on a thin series the short windows fill
slowly and a page comes later, never from two bad calls out of three. The compliance window (``window_s``, 30 days)
is kept the same way and gives the error budget left (``budget_left``), which ``inferwatch slo`` shows.

>>> d = BurnRate(objective=0.99, bucket_s=15)
>>> for _ in range(1000):
...     d.learn_one((0, 100))
>>> d.score_one((0, 100))
0.0
>>> for _ in range(200):
...     d.learn_one((30, 100))
>>> d.score_one((30, 100)) >= 0.9999999, round(d.explain_one((30, 100))[0], 1)
(True, 30.0)
>>> round(d.budget_left(), 2) < 0, sorted(d.burn_rates())[:2]
(True, [300.0, 1800.0])
"""
from __future__ import annotations

import math

from inferwatch.detectors.pickling import Slotted

MIN_CALLS = 20.0


class BurnRate(Slotted):
    __slots__ = ("objective", "window_s", "bucket_s", "fast", "slow", "level", "critical", "bad", "calls",
                 "_fast_weight", "_windows", "_decay")
    _derived = ("_fast_weight", "_windows", "_decay")

    def __init__(self, objective: float = 0.99, bucket_s: float = 15.0, fast: tuple = (3600.0, 300.0, 14.4),
                 slow: tuple = (21600.0, 1800.0, 6.0), level: float = 0.9999, critical: float = 0.9999999,
                 window_s: float = 30 * 86400.0) -> None:
        self.objective = objective
        self.window_s = window_s
        self.bucket_s = bucket_s
        self.fast = tuple(fast)
        self.slow = tuple(slow)
        self.level = level
        self.critical = critical
        self._derive()
        #: per window, EW sums of bad and of all calls
        self.bad = [0.0] * len(self._windows)
        self.calls = [0.0] * len(self._windows)

    def _derive(self) -> None:
        self._fast_weight = math.log(1.0 - self.critical) / math.log(1.0 - self.level)
        self._windows = sorted({self.fast[0], self.fast[1], self.slow[0], self.slow[1], self.window_s})
        self._decay = [math.exp(-self.bucket_s / w) for w in self._windows]

    def learn_one(self, x: tuple[float, float]) -> None:
        bad, calls = x
        for i, decay in enumerate(self._decay):
            self.bad[i] = self.bad[i] * decay + bad
            self.calls[i] = self.calls[i] * decay + calls

    def _burns(self, x: tuple[float, float]) -> dict[float, float]:
        bad, calls = x
        budget = 1.0 - self.objective
        out = {}
        for i, decay in enumerate(self._decay):
            b, c = self.bad[i] * decay + bad, self.calls[i] * decay + calls
            out[self._windows[i]] = (b / c) / budget if c >= MIN_CALLS else 0.0
        return out

    def _ratios(self, x) -> tuple[float, float]:
        burns = self._burns(x)
        fast = min(burns[self.fast[0]], burns[self.fast[1]]) / self.fast[2]
        slow = min(burns[self.slow[0]], burns[self.slow[1]]) / self.slow[2]
        return fast, slow

    def score_one(self, x: tuple[float, float]) -> float:
        """``1 - (1 - level) ** r``, r the burn/threshold ratio (the fast one weighted to reach ``critical`` at 1)."""
        fast, slow = self._ratios(x)
        r = max(slow, fast * self._fast_weight)
        return 1.0 - (1.0 - self.level) ** r if r > 0 else 0.0

    def burn_rates(self) -> dict[float, float]:
        """Burn rate per window length in seconds (0 where the window holds fewer than ``MIN_CALLS`` events)."""
        return self._burns((0, 0))

    def budget_left(self) -> float | None:
        """Share of the compliance window's error budget not yet spent (negative once overspent); None before any
        event: ``1 - bad / (calls * (1 - objective))`` over ``window_s``."""
        i = self._windows.index(self.window_s)
        if self.calls[i] <= 0:
            return None
        return 1.0 - self.bad[i] / (self.calls[i] * (1.0 - self.objective))

    def explain_one(self, x: tuple[float, float]) -> tuple[float, float]:
        """``(burn rate over the short fast window, the fast threshold)``."""
        return self._burns(x)[self.fast[1]], self.fast[2]
