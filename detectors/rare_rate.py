"""Rate of a rare 0/1 event (errors, safety flags): Poisson tail of the window's count against the learned rate.

The observation is ``(events, calls)`` in the recent window. The baseline rate is an exponentially weighted ratio
with a weak prior, so a quiet series starts from a sane assumption. A burst from 0.2 % to 10 % fires; one error in a
quiet minute does not (``min_events``).

>>> d = RareEventRate()
>>> for _ in range(300):
...     d.learn_one((0, 120))
>>> for _ in range(3):
...     d.learn_one((1, 120))
>>> d.score_one((1, 120)), round(d.score_one((12, 120)), 6), d.explain_one((12, 120))[0]
(0.0, 1.0, 0.1)
"""
from __future__ import annotations

from inferwatch.detectors.pickling import Slotted
from inferwatch.detectors.scoring import poisson_score


class RareEventRate(Slotted):
    """EW rate with a prior; score = Poisson upper tail of the window count (0 below ``min_events``)."""

    __slots__ = ("half_life", "prior_rate", "prior_calls", "min_events", "events", "calls", "_decay")
    _derived = ("_decay",)

    def __init__(self, half_life: float = 240.0, prior_rate: float = 0.005, prior_calls: float = 200.0,
                 min_events: int = 3) -> None:
        self.half_life = half_life
        self.prior_rate = prior_rate
        self.prior_calls = prior_calls
        self.min_events = min_events
        self.events = 0.0
        self.calls = 0.0
        self._derive()

    def _derive(self) -> None:
        self._decay = 0.5 ** (1.0 / self.half_life)

    def rate(self) -> float:
        return (self.events + self.prior_rate * self.prior_calls) / (self.calls + self.prior_calls)

    def learn_one(self, x: tuple[float, float]) -> None:
        self.events = self.events * self._decay + x[0]
        self.calls = self.calls * self._decay + x[1]

    def score_one(self, x: tuple[float, float]) -> float:
        events, calls = x
        if events < self.min_events:
            return 0.0
        return poisson_score(events, calls * self.rate())

    def explain_one(self, x: tuple[float, float]) -> tuple[float, float]:
        events, calls = x
        return (events / calls if calls else 0.0), self.rate()
