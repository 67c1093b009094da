"""Checkpointed detector state stays small (issue 12) and a series restored from it carries on exactly as one that never
stopped: detectors pickle as tuples of their parameters and learned numbers, derived fields rebuilt on restore."""
from __future__ import annotations

import json
import pickle

import pytest

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.checkpoint import encode
from inferwatch.detectors.engine import CHECKPOINT_ZLIB_LEVEL, STATE_VERSION, DetectionEngine, restore_series
from inferwatch.detectors.state import InMemoryStateStore
from inferwatch.streams.simulate import START_NS, generate

#: 20 minutes of traffic: 80 buckets of 15 s, past the 40 of warm-up, every default signal learning
MINUTES = 20


@pytest.fixture(scope="module")
def events():
    return list(generate(seed=5, start_ns=START_NS, duration_s=MINUTES * 60, rate_per_s=10, incidents=[]))


@pytest.fixture(scope="module")
def warm(events):
    engine = DetectionEngine(DetectorSettings())
    for event in events:
        engine.process(event)
    return engine


def detector_bytes(engine: DetectionEngine, key_set: int) -> int:
    """The largest pickled detectors of a series of ``key_set`` (0: model series, 1: tenant series)."""
    return max(len(pickle.dumps(series.detectors, pickle.HIGHEST_PROTOCOL))
               for key, series in engine._series.items() if key[0] == key_set)


def test_a_warm_model_series_detectors_fit_in_6_kb(warm):
    """27 detectors, ADWIN windows, an embedding covariance and a linear model: 9.9 KB as pickled objects."""
    assert detector_bytes(warm, 0) <= 6 * 1024


def test_a_warm_tenant_series_detectors_fit_in_1_kb(warm):
    """Five detectors on call-level signals: 1.5 KB as pickled objects."""
    assert detector_bytes(warm, 1) <= 1024


def test_series_restored_from_their_checkpoints_give_the_records_of_an_uninterrupted_run(events):
    """Every series written as its checkpoint and read back every 5 minutes of event time, against one engine that
    never stopped."""
    continuous, restarted = DetectionEngine(DetectorSettings()), DetectionEngine(DetectorSettings())
    records = {"continuous": [], "restarted": []}
    next_restore = START_NS
    for event in events:
        records["continuous"] += continuous.process(event)
        records["restarted"] += restarted.process(event)
        if event["time_unix_nano"] >= next_restore:
            next_restore += 300 * 10**9
            for key, series in restarted._series.items():
                restarted._series[key] = restore_series(encode(series, STATE_VERSION, CHECKPOINT_ZLIB_LEVEL))
    assert json.dumps(records["restarted"]) == json.dumps(records["continuous"])
    assert [pickle.dumps(s.detectors) for s in restarted._series.values()] == \
        [pickle.dumps(s.detectors) for s in continuous._series.values()]


def test_whole_checkpoints_are_deflated_and_restore(warm):
    """What the store receives per series (ring of buckets, episodes, detectors): deflated, 27 KB -> about 10 KB for
    a model series and 3.9 KB -> about 1.4 KB (2.7 KB the busiest) for a tenant series on 20 minutes of traffic
    (docs/limits.md)."""
    store = InMemoryStateStore()
    warm.store = store
    warm.checkpoint()
    sizes = {0: [], 1: []}
    for key, blob in store.items.items():
        sizes[0 if key.startswith("[") else 1].append(len(blob))
        assert restore_series(blob) is not None
    assert max(sizes[0]) <= 11 * 1024 and max(sizes[1]) <= 3 * 1024, sizes
