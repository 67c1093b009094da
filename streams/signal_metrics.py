"""What the detectors think, as Prometheus gauges: per watched signal of each series, its latest window value, the
learned baseline (expected value and, for adaptive thresholds, the band outside which it fires) and its score.

Why a snapshot taken by the worker's own loop, not metrics inside ``detectors/``: detectors stay pure (no metrics
code), and the snapshot reads the engine's state through one read-only accessor (``DetectionEngine.primary_series``)
on the thread that changes it, so a scrape never sees a half-updated detector. ``update`` reads each series'
latest closed window (``signal.observe``) and asks its detector the same questions the engine does
(``score_one`` and the signal's ``describe``, in ``judge``), without learning anything, for the series that closed a
window since the last snapshot (the others keep their numbers); the collector serves the last snapshot.
A signal with no window to judge (too few calls, traffic stopped) has no value and score, but an adaptive
threshold's baseline and band are still shown.

The score is that of the latest window against the baseline as it stands now, after the engine learned from that
window (unless the window was judged anomalous: guarded baselines do not learn what they flag), so in quiet times it
reads a little lower than the score the engine acted on. The band is ``expected ± z·std`` in the detector's own
units (the log of latency, tokens, cost), mapped back to the event's units, with ``z`` the z-score whose score is
``detectors.episode.fire_score``: a window outside the band is one the engine would call anomalous.

>>> from prometheus_client import CollectorRegistry
>>> from inferwatch.detectors.config import DetectorSettings
>>> from inferwatch.detectors.engine import DetectionEngine
>>> engine = DetectionEngine(DetectorSettings(enabled=["latency"], min_window_calls=1))
>>> for i in range(600):
...     _ = engine.process({"event.id": str(i), "service.name": "chat", "gen_ai.provider.name": "openai",
...         "gen_ai.request.model": "m", "gen_ai.client.operation.duration": 1.0 + (i % 7) / 70,
...         "time_unix_nano": i * 10**9})
>>> registry = CollectorRegistry()
>>> gauges = SignalMetrics(registry)
>>> gauges.update([engine])
1
>>> labels = {"service": "chat", "provider": "openai", "model": "m", "environment": "", "signal": "latency",
...           "kind": "threshold"}
>>> low, expected, high = (registry.get_sample_value(f"inferwatch_signal_{name}", labels)
...                        for name in ("band_lower", "expected", "band_upper"))
>>> 0.8 < low < expected < high < 1.4
True
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, NamedTuple

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily

from inferwatch.streams.llm_metrics import DEFAULT_MAX_SERIES, SERIES_LABELS, label_value

LABELS = [*SERIES_LABELS, "signal", "kind"]
#: name suffix -> help text, one gauge each
GAUGES = {
    "value": "Latest window of the signal, in the event's units (seconds, tokens, USD, a rate, a drift distance)",
    "expected": "The learned baseline of the signal (what the detector expected for the latest window)",
    "band_lower": "Lower edge of the band inside which the adaptive threshold does not fire",
    "band_upper": "Upper edge of the band inside which the adaptive threshold does not fire",
    "score": "Surprise score in [0, 1] of the latest window (1 - p-value; drift and concept drift included)",
}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) else None


def judge(signal: Any, series: Any) -> dict[str, float]:
    """What the gauges show for ``signal`` of an engine's ``series`` (value, expected, band_lower, band_upper, score;
    the ones it has), asking its detector without teaching it anything. The replay report
    (``streams.report``) plots the same numbers, so it calls this too."""
    detector = series.detectors.get(signal.name)
    if detector is None or not series.ring:
        return {}
    numbers: dict[str, float | None] = {}
    baseline = getattr(signal, "baseline", None)
    learned = baseline(detector) if baseline is not None else None
    if learned is not None:
        # an adaptive threshold's baseline and band stand without a window, e.g. while traffic has stopped
        numbers = dict(zip(("expected", "band_lower", "band_upper"), learned))
    x = signal.observe(series.ring)
    if x is not None:
        described = signal.describe(x, detector, series.ring)
        numbers.setdefault("expected", _number(described.get("expected")))
        numbers.update(value=_number(described.get("value")), score=_number(detector.score_one(x)))
    return {name: value for name, value in numbers.items() if value is not None}


class _Judged(NamedTuple):
    """One series' rows of a snapshot, and the latest window they were judged at."""

    latest: Any
    labels: tuple[str, ...]
    rows: list[tuple[tuple[str, ...], dict[str, float]]]


class SignalMetrics:
    """A collector on ``registry`` serving the snapshot ``update`` takes of a set of engines."""

    def __init__(self, registry: CollectorRegistry, max_series: int = DEFAULT_MAX_SERIES,
                 dropped: Counter | None = None) -> None:
        self.max_series = max_series
        self.dropped = dropped
        self._rows: list[tuple[tuple[str, ...], dict[str, float]]] = []
        self._judged: dict[Any, _Judged] = {}  # series (by identity) -> its rows in the last snapshot
        registry.register(self)

    def update(self, engines: Iterable[Any]) -> int:
        """Take a new snapshot of every primary series of ``engines``; returns how many series it holds. A series
        whose latest window is the one it had at the last snapshot is not judged again: the engine changes a
        detector only when it closes a window, so its numbers are the same (an export costs what closed since)."""
        rows: list[tuple[tuple[str, ...], dict[str, float]]] = []
        previous, self._judged = self._judged, {}
        seen: set[tuple[str, ...]] = set()
        left_out = 0
        for engine in engines:
            for series in engine.primary_series():
                judged = previous.get(series)
                labels = judged.labels if judged is not None else \
                    tuple(label_value(series.labels.get(field)) for field in SERIES_LABELS.values())
                if labels in seen:
                    continue
                if len(seen) >= self.max_series:
                    left_out += 1
                    continue
                seen.add(labels)
                latest = series.ring[-1] if series.ring else None
                if judged is None or judged.latest is not latest:
                    judged = _Judged(latest, labels, [((*labels, signal.name, signal.kind), numbers)
                                                      for signal in engine.signals
                                                      if (numbers := judge(signal, series))])
                self._judged[series] = judged
                rows += judged.rows
        if left_out and self.dropped is not None:
            self.dropped.labels("signals").inc(left_out)
        self._rows = rows
        return len(seen)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rows = self._rows  # one snapshot, swapped whole by update
        for name, help_text in GAUGES.items():
            family = GaugeMetricFamily(f"inferwatch_signal_{name}", help_text, labels=LABELS)
            for labels, numbers in rows:
                if name in numbers:
                    family.add_metric(labels, numbers[name])
            yield family

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(f"inferwatch_signal_{name}", help_text, labels=LABELS)
                for name, help_text in GAUGES.items()]
