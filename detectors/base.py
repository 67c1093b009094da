"""The detector protocol: what every detector in ``detectors/`` promises, in the manner of River's anomaly detectors.

``learn_one`` updates state; ``score_one`` returns a score in [0, 1] (higher = more anomalous, the same degree of
surprise on any series, so one alerting threshold serves many series) and changes nothing; ``explain_one`` says what
the detector saw against what it expected, for the anomaly record. Thresholding, warm-up and "do not learn from what
you flag" are wrappers (``detectors.filters``), not code repeated in every detector.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Detector(Protocol):
    def learn_one(self, x: Any) -> None:
        """Update the state with observation ``x``."""

    def score_one(self, x: Any) -> float:
        """Score ``x`` in [0, 1] against the current state, without changing it."""

    def explain_one(self, x: Any) -> tuple[Any, Any]:
        """``(value, expected)`` for ``x`` in the detector's own units; the signal maps them to the event's units."""
