"""Seasonal baseline: how surprising each value of one operational series is, on a scale that does not saturate.

Built for ``inferwatch score`` on metrics exported from anywhere (CPU, request volumes, temperatures), which have
level shifts, daily and weekly rhythms, heavy tails, flat stretches and gaps. Three fits run side by side: a level
alone, a level plus an hour-of-day profile, a level plus an hour-of-week profile (additive Holt-Winters in error
form). Each learns from Huber-clipped residuals, so one heavy-tail outlier barely moves it, and keeps an EW mean
absolute residual as its scale. The fit with the smallest scale predicts, among those whose period the series has
spanned twice (and that sample it at least six times per period); without timestamps only the level fit runs.

``surprise_one`` is ``-log10`` of the tail p-value (two-sided equivalent, as ``detectors.scoring``) of the residual
under a Student-t with ``tail_dof`` degrees of freedom on that robust scale: 2 = a 1-in-100 surprise, 4 =
1-in-10,000, with no ceiling, so a threshold sweep can rank values. ``score_one`` is ``1 - 10**-surprise`` in [0, 1],
the scale of every other detector (it rounds to 1.0 past a surprise of about 16).

After ``rebase_after`` rows in a row that are at least ``rebase_z`` robust deviations off on the same side, the
level jumps to the median of those rows: a new normal is accepted after a short run, not fought for hundreds of rows.
The scale never falls below ``relative_floor`` of the level nor below the smallest change the series has shown, so a
flat stretch is not infinitely touchy. With timestamps, learning rates follow elapsed time, in units of the series'
typical step (the median of its first steps), so a gap counts as the rows it skipped.

``x`` is a number, or a ``(timestamp_seconds, number)`` pair.

>>> import random
>>> rng = random.Random(3)
>>> d = SeasonalBaseline()
>>> for i in range(24 * 20):  # 20 days of hourly values with a daily peak at noon
...     hour = 3600.0 * i
...     d.learn_one((hour, 50 + (30 if i % 24 == 12 else 0) + rng.gauss(0, 2)))
>>> noon, midnight = 3600.0 * (24 * 20 + 12), 3600.0 * (24 * 20 + 24)
>>> d.surprise_one((noon, 80.0)) < 1, d.surprise_one((midnight, 80.0)) > 4
(True, True)
>>> d.score_one((noon, 50.0)) > 0.999  # the same surprise on the [0, 1] scale of the other detectors
True
"""
from __future__ import annotations

import math
import statistics

from scipy.special import log_ndtr, stdtr

from inferwatch.detectors.pickling import Slotted

DAY_S = 86400.0
WEEK_S = 7 * DAY_S
#: width of one bin of a seasonal profile: an hour (24 bins a day, 168 a week)
BIN_S = 3600.0
#: mean absolute deviation to standard deviation, for normal noise
_MAD_TO_STD = math.sqrt(math.pi / 2.0)


class _Fit(Slotted):
    """A level, optionally plus a seasonal profile of hourly offsets (linearly interpolated), and its residual scale."""

    __slots__ = ("period", "level", "abs_dev", "offsets", "start")

    def __init__(self, period: float) -> None:
        self.period = period
        self.level = 0.0
        self.abs_dev = 0.0
        self.offsets = [0.0] * round(period / BIN_S) if period else []
        self.start: float | None = None

    def _bins(self, t: float) -> tuple[int, int, float]:
        position = (t % self.period) / BIN_S  # a bin per hour mark; values between marks interpolate
        below = math.floor(position)
        w = position - below
        return below % len(self.offsets), (below + 1) % len(self.offsets), w

    def predict(self, t: float | None) -> float:
        if not self.period or t is None:
            return self.level
        i, j, w = self._bins(t)
        return self.level + (1.0 - w) * self.offsets[i] + w * self.offsets[j]

    def spanned(self, t: float | None, step: float | None) -> bool:
        """Whether this fit may predict at ``t``: two whole periods seen, sampled often enough to have a shape."""
        if not self.period:
            return True
        return (t is not None and self.start is not None and step is not None and t - self.start >= 2 * self.period
                and 6 * step <= self.period)

    def update(self, t: float | None, x: float, alpha: float, gamma: float, clip: float) -> None:
        residual = x - self.predict(t)
        e = max(-clip, min(clip, residual))
        self.level += alpha * e
        if self.period and t is not None:
            if self.start is None:
                self.start = t
            i, j, w = self._bins(t)
            self.offsets[i] += gamma * (1.0 - w) * e
            self.offsets[j] += gamma * w * e
        self.abs_dev += alpha * (min(abs(residual), clip) - self.abs_dev)

    def rebase(self, run: list[tuple[float | None, float]]) -> None:
        self.level += statistics.median(x - self.predict(t) for t, x in run)


class SeasonalBaseline:
    """Robust seasonal baseline with level-shift re-basing; ``surprise_one`` = -log10 tail p-value, unbounded."""

    def __init__(self, side: str = "both", half_life: float = 30.0, season_half_life: float = 1.0,
                 season_level_half_life: float = 0.25,
                 rebase_after: int = 5, rebase_z: float = 3.0, tail_dof: float | None = 5.0,
                 relative_floor: float = 0.005, clip_z: float = 3.0, warm_up: int = 10) -> None:
        self.side = side
        self.half_life = half_life
        self.season_half_life = season_half_life
        self.season_level_half_life = season_level_half_life
        self.rebase_after = rebase_after
        self.rebase_z = rebase_z
        self.tail_dof = tail_dof
        self.relative_floor = relative_floor
        self.clip_z = clip_z
        self.warm_up = warm_up
        self.fits = [_Fit(0.0), _Fit(DAY_S), _Fit(WEEK_S)]
        self.n = 0
        self.last: tuple[float | None, float] | None = None
        self.first_steps: list[float] = []  # the first positive time steps, until the typical step is known
        self.step: float | None = None
        self.resolution = math.inf  # smallest non-zero change between consecutive values
        self.run: list[tuple[float | None, float]] = []  # the current run of surprising rows on one side
        self.run_sign = 0.0
        self.run_surprise = 0.0  # summed surprise of the rows in ``run``

    @staticmethod
    def _split(x) -> tuple[float | None, float]:
        if isinstance(x, tuple):
            return float(x[0]), float(x[1])
        return None, float(x)

    def _best(self, t: float | None) -> _Fit:
        return min((f for f in self.fits if f.spanned(t, self.step)), key=lambda f: f.abs_dev)

    def _scale(self, fit: _Fit) -> float:
        floor = max(self.relative_floor * abs(fit.level), self.resolution if math.isfinite(self.resolution) else 0.0)
        return max(_MAD_TO_STD * fit.abs_dev, floor, 1e-12)

    def z_one(self, x) -> float:
        """Residual of ``x`` against the baseline, in robust standard deviations (0 during warm-up)."""
        t, value = self._split(x)
        if self.n < self.warm_up:
            return 0.0
        fit = self._best(t)
        return (value - fit.predict(t)) / self._scale(fit)

    def _tail_surprise(self, z: float) -> float:
        """``-log10`` of the two-sided-equivalent tail p-value of ``z`` on the problem ``side``."""
        if self.side == "upper":
            z = max(z, 0.0)
        elif self.side == "lower":
            z = max(-z, 0.0)
        else:
            z = abs(z)
        if self.tail_dof is None:
            log10_tail = float(log_ndtr(-z)) / math.log(10.0)
        else:
            log10_tail = math.log10(max(float(stdtr(self.tail_dof, -z)), 1e-300))
        return max(0.0, -(log10_tail + math.log10(2.0)))

    def _extends_run(self, z: float) -> bool:
        return abs(z) >= self.rebase_z and math.copysign(1.0, z) == self.run_sign

    def surprise_one(self, x) -> float:
        """``-log10`` of the p-value of ``x`` on the problem ``side``: 0 = as expected, 4 = 1-in-10,000. A row that
        continues a run of surprising rows on the same side carries the run's surprise too (the chance of the whole
        run), so a lasting shift outranks one heavy-tail outlier from its second row on."""
        z = self.z_one(x)
        surprise = self._tail_surprise(z)
        return surprise + self.run_surprise if self._extends_run(z) else surprise

    def score_one(self, x) -> float:
        return 1.0 - 10.0 ** -self.surprise_one(x)

    def explain_one(self, x) -> tuple[float, float]:
        t, value = self._split(x)
        return value, self._best(t).predict(t)

    def _steps(self, t: float | None) -> float:
        """Elapsed time since the last row, in typical steps (1 without timestamps); learns the typical step."""
        if t is None or self.last is None or self.last[0] is None:
            return 1.0
        dt = t - self.last[0]
        if self.step is None or len(self.first_steps) < 16:
            if dt > 0:
                self.first_steps.append(dt)
                self.step = statistics.median(self.first_steps)
            return 1.0
        return min(max(dt / self.step, 0.1), self.half_life)

    def learn_one(self, x) -> None:
        t, value = self._split(x)
        if not math.isfinite(value):
            return
        z = self.z_one(x)
        steps = self._steps(t)
        if self.last is not None and value != self.last[1]:
            self.resolution = min(self.resolution, abs(value - self.last[1]))
        self.last = (t, value)
        self.n += 1
        if self.n == 1:
            for fit in self.fits:
                fit.start, fit.level = t, value
            return
        if self._extends_run(z):
            self.run, self.run_surprise = [*self.run, (t, value)], self.run_surprise + self._tail_surprise(z)
        elif abs(z) >= self.rebase_z:
            self.run, self.run_sign, self.run_surprise = [(t, value)], math.copysign(1.0, z), self._tail_surprise(z)
        else:
            self.run, self.run_sign, self.run_surprise = [], 0.0, 0.0
        if len(self.run) >= self.rebase_after:
            for fit in self.fits:
                fit.rebase(self.run)
            self.run, self.run_sign, self.run_surprise = [], 0.0, 0.0
            return
        bin_share = 1.0 if t is None or self.step is None else min(steps * self.step / BIN_S, 1.0)
        gamma = 1.0 - 0.5 ** (bin_share / self.season_half_life)
        for fit in self.fits:
            half_life = self.half_life
            if fit.period and self.step:  # a level as quick as the rhythm would chase it, leaving the profile flat
                half_life = max(half_life, self.season_level_half_life * fit.period / self.step)
            alpha = max(1.0 - 0.5 ** (steps / half_life), 1.0 / self.n)
            clip = self.clip_z * self._scale(fit) if self.n > self.warm_up else math.inf
            fit.update(t, value, alpha, gamma, clip)
