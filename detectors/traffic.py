"""Request rate of a series over event time: a surge, a drop, or silence (a series that stops sending).

The observation is the count of calls in the recent window, silent buckets included (closed by the watermark).
The baseline is Holt's linear trend (an EW level plus an EW slope), so it follows the daily rhythm's rise and fall
instead of lagging behind it, with an EW variance of the forecast errors and a Poisson floor, so a low-volume
series is not judged on a variance it has not shown yet. The count is scored on a negative binomial's tails with
that mean and variance: on a small series (a tenant's few calls a minute) a normal approximation would call an
ordinary burst a one-in-a-million event.

Evidence before pages: a count is judged only when it differs from the forecast by at least ``min_change`` calls and
by the factor ``min_ratio`` (a surge at least that many times the forecast, a drop at most its inverse). At 0.05
calls/s a missing call is no news, and at 500 calls/s a 10 % swing is statistically certain yet no incident. The
count is a surge only above the recent peak (``peak``): a series whose Holt level decayed towards zero between sparse
calls or bursts would otherwise call its next ordinary call, or a batch job's next burst, a surge from nothing.

>>> d = TrafficRate()
>>> for i in range(400):
...     d.learn_one(100.0 + 0.2 * i + (i % 7) - 3)
>>> d.explain_one(180.0)[1] > 175, d.score_one(182.0) < 0.9, round(d.score_one(0.0), 4), round(d.score_one(400.0), 4)
(True, True, 1.0, 1.0)
>>> sparse = TrafficRate()
>>> for i in range(400):
...     sparse.learn_one(1.0 if i % 40 == 0 else 0.0)
>>> sparse.score_one(1.0), sparse.score_one(3.0), sparse.score_one(40.0) > 0.9999
(0.0, 0.0, True)
>>> for i in range(12):
...     sparse.learn_one(40.0 if i < 4 else 0.0)
>>> sparse.score_one(40.0), sparse.score_one(120.0) > 0.9999
(0.0, True)
"""
from __future__ import annotations

import math

from inferwatch.detectors.pickling import Slotted
from inferwatch.detectors.scoring import count_score


class TrafficRate(Slotted):
    """Holt level + trend forecast of window counts; two-sided score (``side`` may restrict it).

    It guards its own learning instead of sitting behind ``LearnIfNormal``: a count more than ``clip`` standard
    deviations from the forecast is not learned into the level and spread for ``patience`` windows in a row (a surge
    or a stall must not become the normal at once), while ``peak``, the recent highest count decaying with ``peak_half_life``, learns every count ``peak_lag`` windows
    late: a batch job's bursts are no surge once one has been seen, while a surge under way is judged against the
    peak from before it."""

    __slots__ = ("side", "half_life", "trend_half_life", "min_change", "min_ratio", "peak_half_life", "clip",
                 "patience", "peak_lag", "n", "level", "trend", "var", "peak", "recent", "refused",
                 "_alpha", "_beta", "_peak_decay")
    _derived = ("_alpha", "_beta", "_peak_decay")

    def __init__(self, side: str = "both", half_life: float = 20.0, trend_half_life: float = 60.0,
                 min_change: float = 10.0, min_ratio: float = 1.5, peak_half_life: float = 1440.0,
                 clip: float = 3.0, patience: int = 120, peak_lag: int = 8) -> None:
        self.side = side
        self.half_life = half_life
        self.trend_half_life = trend_half_life
        self.min_change = min_change
        self.min_ratio = min_ratio
        self.peak_half_life = peak_half_life
        self.clip = clip
        self.patience = patience
        self.peak_lag = peak_lag
        self.n = 0
        self.level = 0.0
        self.trend = 0.0
        self.var = 0.0
        self.peak = 0.0
        self.recent: list[float] = []
        self.refused = 0
        self._derive()

    def _derive(self) -> None:
        self._alpha = 1.0 - 0.5 ** (1.0 / self.half_life)
        self._beta = 1.0 - 0.5 ** (1.0 / self.trend_half_life)
        self._peak_decay = 0.5 ** (1.0 / self.peak_half_life)

    # ``b if b > a else a`` is ``max(a, b)`` to the bit (ties, signed zeros, NaN) without a call: this runs for
    # every series at every bucket close, and again in a sleeping series' look-ahead (``detectors.engine``)

    def forecast(self) -> float:
        forecast = self.level + self.trend
        return 0.0 if 0.0 > forecast else forecast

    def _spread(self) -> float:
        var, forecast = self.var, self.forecast()
        widest = forecast if forecast > var else var
        return math.sqrt(1.0 if 1.0 > widest else widest)

    def learn_one(self, x: float) -> None:
        n = self.n = self.n + 1
        recent = self.recent
        recent.append(x)
        peak = self.peak * self._peak_decay
        if len(recent) > self.peak_lag:
            oldest = recent.pop(0)
            peak = peak if peak > oldest else oldest
        self.peak = peak
        if n == 1:
            self.level = x
            return
        base_alpha, alpha = self._alpha, 1.0 / n
        if not alpha > base_alpha:
            alpha = base_alpha
        level, trend = self.level, self.trend
        error = x - (level + trend)
        if n > 2.0 / base_alpha and abs(error) > self.clip * self._spread():  # past the first estimates
            if self.refused < self.patience:
                self.refused += 1
                return
        else:
            self.refused = 0
        self.var += alpha * (error * error - self.var)
        self.level = level + (trend + alpha * error)
        self.trend = trend + alpha * self._beta * error

    def score_one(self, x: float) -> float:
        if self.n == 0:
            return 0.0
        expected = self.forecast()
        if x > expected:
            if x - expected < self.min_change or x < self.min_ratio * expected or x <= self._recent_high():
                return 0.0
        elif expected - x < self.min_change or x * self.min_ratio > expected:
            return 0.0
        # never below Poisson, and a tenth over it so the negative binomial is defined: a plain "+1" would give a
        # near-empty series a geometric tail in which 40 calls out of nowhere are only a 1-in-3,000 surprise
        return count_score(x, expected, max(self.var, expected) * 1.1 + 1e-9, self.side)

    def _recent_high(self) -> float:
        """The decayed peak plus its own Poisson noise (3 sd): a batch job's next burst, as large as the last one, is
        no surge even though the peak has decayed a little since."""
        return self.peak + 3.0 * math.sqrt(self.peak)

    def explain_one(self, x: float) -> tuple[float, float]:
        return x, self.forecast()
