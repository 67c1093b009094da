"""The baseline and score gauges: an export judges only the series that closed a window since the last one, and
shows what judging every series afresh would show."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.contract import NS
from inferwatch.detectors.engine import DetectionEngine
from inferwatch.streams import signal_metrics
from inferwatch.streams.signal_metrics import SignalMetrics


def feed(engine: DetectionEngine, seconds: range, models: list[str]) -> None:
    for t in seconds:
        for model in models:
            engine.process({"event.id": f"{model}-{t}", "service.name": "chat", "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": model, "gen_ai.client.operation.duration": 1.0 + (t % 7) / 70,
                            "time_unix_nano": t * NS})


@pytest.fixture
def judged(monkeypatch) -> list:
    calls: list = []
    real = signal_metrics.judge

    def counting(signal, series):
        calls.append(series.labels["gen_ai.request.model"])
        return real(signal, series)

    monkeypatch.setattr(signal_metrics, "judge", counting)
    return calls


def test_an_export_judges_only_series_that_closed_a_window_and_shows_what_a_fresh_one_would(judged):
    engine = DetectionEngine(DetectorSettings(enabled=["latency"], min_window_calls=1))
    feed(engine, range(600), ["a", "b"])
    registry = CollectorRegistry()
    gauges = SignalMetrics(registry)
    gauges.update([engine])
    first = generate_latest(registry)
    assert sorted(set(judged)) == ["a", "b"]

    judged.clear()
    gauges.update([engine])  # nothing closed since
    assert judged == [] and generate_latest(registry) == first

    feed(engine, range(600, 900), ["a"])  # windows close for both; only "a" had calls
    gauges.update([engine])
    fresh_registry = CollectorRegistry()
    SignalMetrics(fresh_registry).update([engine])
    assert generate_latest(registry) == generate_latest(fresh_registry) != first
