"""Behaviour added to any detector by wrapping it, as River's ``anomaly.filter`` does: written once, not per detector.

``WarmUp`` keeps a detector silent until it has learned enough; ``LearnIfNormal`` keeps it from learning the very
points it flags (so an incident does not become the new normal), yet accepts a lasting new level after a while: at
once, after ``rebase_after`` refusals, when the detector can re-base on them (``Rebaseable``: a moderate shift of a
level, a deploy), else one point at a time after ``patience`` refusals.

>>> from inferwatch.detectors.adaptive_threshold import AdaptiveThreshold
>>> d = LearnIfNormal(WarmUp(AdaptiveThreshold(side="upper"), n=3), threshold=0.999)
>>> for x in [1.0, 1.1, 0.9, 1.0, 1.05]:
...     d.learn_one(x)
>>> round(d.score_one(5.0), 4), d.refused
(1.0, 0)
>>> d.learn_one(5.0); d.refused
1
>>> shifted = LearnIfNormal(WarmUp(AdaptiveThreshold(side="upper", min_std=0.05), n=3), rebase_after=3, max_shift=1.0)
>>> for x in [0.0, 0.01, -0.01, 0.0] + [0.5] * 3:
...     shifted.learn_one(x)
>>> shifted.refused, round(shifted.score_one(0.5), 2)
(0, 0.0)
"""
from __future__ import annotations

from typing import Any, Protocol

from inferwatch.detectors.base import Detector
from inferwatch.detectors.pickling import Slotted


class Rebaseable(Protocol):
    def rebase(self, points: list, max_shift: float) -> bool:
        """Take the mean of ``points`` as the new baseline if it moved at most ``max_shift``; say whether it did."""


class WarmUp(Slotted):
    """Scores 0 until the wrapped detector has learned ``n`` observations."""

    __slots__ = ("detector", "n", "seen")

    def __init__(self, detector: Detector, n: int = 40) -> None:
        self.detector = detector
        self.n = n
        self.seen = 0

    def learn_one(self, x: Any) -> None:
        self.detector.learn_one(x)
        self.seen += 1

    def score_one(self, x: Any) -> float:
        return self.detector.score_one(x) if self.seen >= self.n else 0.0

    def explain_one(self, x: Any) -> tuple[Any, Any]:
        return self.detector.explain_one(x)

    def rebase(self, points: list, max_shift: float) -> bool:
        rebase = getattr(self.detector, "rebase", None)
        return rebase is not None and rebase(points, max_shift)


class LearnIfNormal(Slotted):
    """Learns only from points scored under ``threshold``; after ``patience`` refusals in a row it learns again.

    The engine scores a point, then learns it: the score of the last ``score_one`` is kept (not pickled) so that
    ``learn_one`` of the very same object does not compute it twice."""

    __slots__ = ("detector", "threshold", "patience", "rebase_after", "max_shift", "refused", "held", "_scored")
    _derived = ("_scored",)

    def __init__(self, detector: Detector, threshold: float = 0.9999, patience: int = 120,
                 rebase_after: int | None = None, max_shift: float = 0.0) -> None:
        self.detector = detector
        self.threshold = threshold
        self.patience = patience
        self.rebase_after = rebase_after
        self.max_shift = max_shift
        self.refused = 0
        #: the points refused in a row, kept (at most ``rebase_after``) only when re-basing is on
        self.held: list = []
        self._derive()

    def _derive(self) -> None:
        self._scored: tuple[Any, float] | None = None

    def learn_one(self, x: Any) -> None:
        scored, self._scored = self._scored, None
        score = scored[1] if scored is not None and scored[0] is x else self.detector.score_one(x)
        anomalous = score >= self.threshold
        if anomalous and self.refused < self.patience:
            self.refused += 1
            if self.rebase_after:
                self.held = [*self.held[1 - self.rebase_after:], x]
                if len(self.held) == self.rebase_after and self.detector.rebase(self.held, self.max_shift):
                    self.refused, self.held = 0, []
            return
        # past its patience it learns every point until a normal one comes: the level has moved for good
        if not anomalous:
            self.refused = 0
            self.held = []
        self.detector.learn_one(x)

    def score_one(self, x: Any) -> float:
        score = self.detector.score_one(x)
        self._scored = (x, score)
        return score

    def explain_one(self, x: Any) -> tuple[Any, Any]:
        return self.detector.explain_one(x)
