"""Checkpoints (``detectors.checkpoint``): an engine restored from them mid-stream gives exactly the records and the
state of one that never stopped, and a checkpoint of another version is not read."""
from __future__ import annotations

import json
import pickle
import zlib

import pytest

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.engine import STATE_VERSION, DetectionEngine
from inferwatch.detectors.incidents import parse_incident
from inferwatch.detectors.state import InMemoryStateStore
from inferwatch.streams.simulate import START_NS, generate

NS = 10**9
#: the restart, after the 10 minutes of warm-up and before every incident
SPLIT_S = 18 * 60
INCIDENTS = [parse_incident(spec) for spec in (
    "latency_spike@22m+5m:service.name=support-bot,gen_ai.request.model=gpt-4o",
    "error_burst@24m+4m:service.name=search-summarizer",
    "output_collapse@30m+4m:service.name=code-assistant",
    "canary_regression@21m+8m:service.name=support-bot",
    "quality_drop@21m+14m:service.name=support-bot",
)]


@pytest.fixture(scope="module")
def events():
    return list(generate(seed=11, start_ns=START_NS, duration_s=36 * 60, rate_per_s=10, incidents=INCIDENTS))


def run(engine: DetectionEngine, events: list[dict]) -> list[dict]:
    return [r for e in events for r in engine.process(e)]


def test_an_engine_restored_mid_stream_gives_the_records_and_state_of_one_that_never_stopped(events):
    """Half the stream, a checkpoint, a new engine on the same store for the rest: every record of the second half
    byte for byte (rates, thresholds, variants, concept drift, firing and resolved), and every series it restored
    holds the detectors and episodes of the uninterrupted engine's at the end."""
    split = next(i for i, e in enumerate(events) if e["time_unix_nano"] >= START_NS + SPLIT_S * NS)
    uninterrupted = DetectionEngine(DetectorSettings())
    run(uninterrupted, events[:split])
    expected = run(uninterrupted, events[split:])
    store = InMemoryStateStore()
    first = DetectionEngine(DetectorSettings(), store)
    run(first, events[:split])
    assert first.checkpoint() == len(store.items) > 6
    restored = DetectionEngine(DetectorSettings(), store)
    records = run(restored, events[split:])
    assert {r["kind"] for r in expected} >= {"rate", "threshold", "variant_regression", "concept_drift"}
    assert {r["status"] for r in expected} == {"firing", "resolved"}
    assert json.dumps(records) == json.dumps(expected)
    assert restored._series.keys() <= uninterrupted._series.keys()
    for key, series in restored._series.items():
        twin = uninterrupted._series[key]
        assert pickle.dumps(series.detectors) == pickle.dumps(twin.detectors), key
        assert pickle.dumps(series.episodes) == pickle.dumps(twin.episodes), key


def test_a_checkpoint_of_another_state_version_is_not_restored(events):
    """One written by version 7 (the deflated pickle of ``(7, series)``) or carrying another version byte: the series
    warms up afresh instead of being misread, and that is no load failure."""
    store = InMemoryStateStore()
    first = DetectionEngine(DetectorSettings(), store)
    run(first, events[:4000])
    first.checkpoint()
    series, other = [s for key, s in first._series.items() if key[0] == 0][:2]  # model series: busy in any minute
    store.items[series.key] = zlib.compress(pickle.dumps((7, series), pickle.HIGHEST_PROTOCOL))
    other = other.key
    store.items[other] = bytes([STATE_VERSION + 1]) + store.items[other][1:]
    restored = DetectionEngine(DetectorSettings(), store)
    run(restored, events[4000:4400])
    fresh = [s for s in restored._series.values() if s.key in (series.key, other)]
    assert len(fresh) == 2 and all(len(s.ring) < len(series.ring) for s in fresh)
    assert restored.counts["checkpoint_load_failed"] == 0
