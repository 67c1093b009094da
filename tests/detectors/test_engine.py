"""The engine's promises: pinned record format, one episode per problem, event time only, silence via the
watermark, determinism, and state that survives a restart without a fresh warm-up."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.engine import DetectionEngine
from inferwatch.detectors.incidents import parse_incident
from inferwatch.detectors.state import InMemoryStateStore
from inferwatch.streams.simulate import START_NS, generate

NS = 10**9
PINNED = {"time_unix_nano", "kind", "signal", "labels", "value", "expected", "score", "severity", "detector",
          "fingerprint", "exemplars", "status"}
SPIKE = parse_incident("latency_spike@30m+5m:service.name=support-bot,gen_ai.request.model=gpt-4o")
GPT4O = {"service.name": "support-bot", "deployment.environment.name": "prod", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}


@pytest.fixture(scope="module")
def events():
    return list(generate(seed=3, start_ns=START_NS, duration_s=3000, rate_per_s=15, incidents=[SPIKE]))


def run(engine, events):
    return [r for e in events for r in engine.process(e)]


def latency_records(records):
    return [r for r in records if r["signal"] == "gen_ai.client.operation.duration"]


def test_records_have_the_pinned_format(events):
    records = run(DetectionEngine(DetectorSettings()), events)
    assert records
    for r in records:
        assert PINNED <= set(r), r
        assert 0.0 <= r["score"] <= 1.0 and r["severity"] in ("info", "warning", "critical")
        assert r["status"] in ("firing", "resolved")
        json.dumps(r)


def test_spike_is_one_episode_on_the_right_series_with_stage_and_exemplars(events):
    records = latency_records(run(DetectionEngine(DetectorSettings()), events))
    firing = [r for r in records if r["status"] == "firing"]
    assert len(firing) == 1
    first = firing[0]
    assert first["labels"] == GPT4O
    delay_s = (first["time_unix_nano"] - START_NS) / NS - SPIKE.start_s
    assert 0 < delay_s < 120
    assert first["value"] > 2 * first["expected"]
    assert first["stages"][0]["stage"] == "inference"
    assert len(first["exemplars"]) == 3
    assert [r["status"] for r in records] == ["firing", "resolved"]
    assert len({r["fingerprint"] for r in records}) == 1


def test_same_events_same_records(events):
    assert run(DetectionEngine(DetectorSettings()), events) == run(DetectionEngine(DetectorSettings()), events)


def test_restart_from_checkpoint_needs_no_warm_up(events):
    """Stop at minute 25 (after warm-up, before the spike), restart from the store: the spike is still caught, exactly
    as by an engine that never stopped; an engine restarted without the store is still warming up and misses it."""
    split = next(i for i, e in enumerate(events) if e["time_unix_nano"] >= START_NS + 1500 * NS)
    uninterrupted = latency_records(run(DetectionEngine(DetectorSettings()), events))
    store = InMemoryStateStore()
    first = DetectionEngine(DetectorSettings(), store)
    before = run(first, events[:split])
    assert first.checkpoint() == len(store.items) >= 6
    after = run(DetectionEngine(DetectorSettings(), store), events[split:])
    assert latency_records(before + after) == uninterrupted
    cold = latency_records(run(DetectionEngine(DetectorSettings()), events[split:]))
    assert not [r for r in cold if r["status"] == "firing"]


def test_events_redelivered_after_a_restart_are_not_counted_twice(events):
    """Kafka redelivers everything after the last committed offset, which may be older than the checkpoint: the
    restored engine must give what an engine that never stopped gives, not a doubled request rate."""
    split = next(i for i, e in enumerate(events) if e["time_unix_nano"] >= START_NS + 1500 * NS)
    uninterrupted = run(DetectionEngine(DetectorSettings()), events)
    store = InMemoryStateStore()
    first = DetectionEngine(DetectorSettings(), store)
    before = run(first, events[:split])
    first.checkpoint()
    redelivered = events[split - 600:]  # the last 600 events were processed but their offsets not committed
    after = run(DetectionEngine(DetectorSettings(), store), redelivered)
    assert [r for r in before + after if r["status"] == "firing"] == \
        [r for r in uninterrupted if r["status"] == "firing"]


def test_checkpoint_writes_only_changed_series(events):
    store = InMemoryStateStore()
    engine = DetectionEngine(DetectorSettings(), store)
    run(engine, events[:2000])
    assert engine.checkpoint() == engine.series_count() > 6  # model series and tenant series
    assert engine.checkpoint() == 0
    call = next(e for e in events[2000:] if e["event.kind"] == "llm_call")
    engine.process(call)
    assert engine.checkpoint() == 2  # the call's model series and its tenant's series


def test_silence_is_detected_by_advancing_the_watermark(events):
    engine = DetectionEngine(DetectorSettings(enabled=["traffic"]))
    end = START_NS + 1800 * NS
    run(engine, [e for e in events if e["time_unix_nano"] < end])
    records = engine.advance(end + 300 * NS)
    silent = [r for r in records if r["status"] == "firing"]
    assert len(silent) == 6 and all(r["kind"] == "throughput" and r["value"] < r["expected"] for r in silent)


def test_event_time_only_the_same_records_at_any_speed(events):
    """No wall clock: records depend on event times alone, however fast they are fed."""
    slow = DetectionEngine(DetectorSettings())
    records = []
    for e in events:
        records += slow.process(e)
    assert records == run(DetectionEngine(DetectorSettings()), events)


def test_bad_enabled_name_names_the_field():
    with pytest.raises(ValueError, match="detectors.enabled: unknown signal 'latncy'"):
        DetectionEngine(DetectorSettings(enabled=["latncy"]))


def test_detectors_import_no_kafka_or_redis():
    code = ("import sys, detectors.engine, detectors.registry, detectors.evaluation; "
            "print(sorted(m for m in ('faust', 'confluent_kafka', 'aiokafka', 'redis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
