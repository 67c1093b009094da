"""Signals on simulated streams with known answers: per-stage durations, input embeddings, and the (kind, signal)
pairs the registry says the engine can emit."""
from __future__ import annotations

import pytest

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.engine import DetectionEngine
from inferwatch.detectors.incidents import parse_incident
from inferwatch.detectors.registry import emitted_signals
from inferwatch.streams.simulate import START_NS, generate

NS = 10**9
MISTRAL = {"service.name": "code-assistant", "deployment.environment.name": "prod", "gen_ai.provider.name": "aws.bedrock",
           "gen_ai.request.model": "mistral-large"}
MINI = {"service.name": "search-summarizer", "deployment.environment.name": "prod", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini"}
RETRIEVAL = parse_incident("retrieval_slowdown@25m+5m:service.name=code-assistant,gen_ai.request.model=mistral-large")
SHIFT = parse_incident("embedding_shift@25m+15m:service.name=search-summarizer,gen_ai.request.model=gpt-4o-mini")


def firing(incidents, settings=None, duration_s=2700):
    events = generate(seed=8, start_ns=START_NS, duration_s=duration_s, rate_per_s=12, incidents=incidents)
    engine = DetectionEngine(settings or DetectorSettings())
    return [r for e in events for r in engine.process(e) if r["status"] == "firing"]


@pytest.fixture(scope="module")
def retrieval_records():
    return firing([RETRIEVAL])


def test_a_slow_retrieval_stage_fires_its_own_threshold(retrieval_records):
    stage = [r for r in retrieval_records if r["signal"] == "app.stage.retrieval.duration"]
    assert [r["labels"] for r in stage] == [MISTRAL]
    assert (stage[0]["kind"], stage[0]["detector"]) == ("threshold", "adaptive_threshold")
    assert 0 < (stage[0]["time_unix_nano"] - START_NS) / NS - RETRIEVAL.start_s < 120
    assert 1.5 < stage[0]["value"] / stage[0]["expected"] < 3.5  # tripled, in part of the window so far
    assert len(stage[0]["exemplars"]) == 3
    # the band the baseline fires outside, in seconds: the slow window is above it, the baseline inside it
    low, high = stage[0]["band"]
    assert low < stage[0]["expected"] < high < stage[0]["value"]


def test_the_slow_stage_is_seen_where_the_whole_call_latency_is_not(retrieval_records):
    """Retrieval is ~5 % of a mistral-large call: tripled, it hides in the noise of the call's latency."""
    on_mistral = {r["signal"] for r in retrieval_records if r["labels"] == MISTRAL}
    assert "app.stage.retrieval.duration" in on_mistral
    assert not on_mistral & {"gen_ai.client.operation.duration", "app.stage.inference.duration",
                             "app.stage.prompt.duration", "app.stage.postprocess.duration",
                             "app.stage.delivery.duration"}


def test_stage_thresholds_follow_the_configured_stages(retrieval_records):
    settings = DetectorSettings(stages=["inference"])
    assert [s.signal for s in DetectionEngine(settings).signals if s.name.startswith("stage:")] == \
        ["app.stage.inference.duration"]


@pytest.fixture(scope="module")
def shift_records():
    return firing([SHIFT])


def test_inputs_of_a_new_kind_move_the_embedding_mean_and_nothing_else_about_the_inputs(shift_records):
    records = shift_records
    drift = [r for r in records if r["signal"] == "app.input.embedding"]
    assert drift and {tuple(r["labels"].items()) for r in drift} == {tuple(MINI.items())}
    assert (drift[0]["kind"], drift[0]["detector"]) == ("data_drift", "embedding_drift")
    delay_s = (drift[0]["time_unix_nano"] - START_NS) / NS - SHIFT.start_s
    assert 0 < delay_s < 300
    assert drift[0]["value"] > 3 * drift[0]["expected"]
    assert not [r for r in records if r["kind"] == "data_drift" and r["signal"] != "app.input.embedding"], \
        "language, topic and sizes did not change"


def test_clean_traffic_raises_no_embedding_drift():
    assert not [r for r in firing([], duration_s=3600) if r["signal"] == "app.input.embedding"]


def test_records_carry_only_the_pairs_emitted_signals_lists(retrieval_records, shift_records):
    pairs = set(emitted_signals(DetectorSettings()))
    seen = {(r["kind"], r["signal"]) for r in retrieval_records + shift_records}
    assert seen and seen <= pairs
