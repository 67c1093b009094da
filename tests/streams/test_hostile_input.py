"""Input built to hurt: deep nesting, amplification, arbitrary bytes and JSON. Nothing may escape decoding or the
per-message step, and every rejection must carry a reason that can go into a Kafka header.

The property-based tests run a bounded number of examples here; ``scripts/fuzz_ingest.py`` runs the same
properties much longer.
"""
from __future__ import annotations

import io

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.engine import DetectionEngine
from inferwatch.streams.config import Settings
from inferwatch.streams.deadletter import deadletter_headers
from inferwatch.streams.pipeline import TelemetryPipeline
from inferwatch.streams.replay import replay
from inferwatch.streams.schema import DEFAULT_MAX_EVENTS_PER_MESSAGE, decode_message
from tests.streams.strategies import json_documents, message_bytes, near_valid_events

T0 = 1_767_225_600_000_000_000
GOOD = {"event.id": "good", "time_unix_nano": T0, "service.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m", "gen_ai.operation.name": "chat", "gen_ai.client.operation.duration": 0.8}
BOUNDED = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
#: what each property is tried on (``scripts/fuzz_ingest.py`` runs the same properties on the same strategies)
BYTES, DOCUMENTS = message_bytes(), json_documents()
BATCHES = st.lists(near_valid_events(T0), min_size=1, max_size=5)


def nested(depth: int) -> bytes:
    """A JSON list nested ``depth`` levels deep (orjson itself would refuse to encode it)."""
    return b"[" * depth + b"null" + b"]" * depth


def assert_well_formed(events: list[dict], rejections: list) -> None:
    for event in events:
        assert isinstance(event, dict) and isinstance(event["event.id"], str)
    for rejection in rejections:
        assert rejection.reason.strip(), "every rejection says why"
        assert isinstance(rejection.original, bytes)
        deadletter_headers(rejection, "llm.telemetry.v1")  # the reason and field must encode into Kafka headers


@pytest.mark.parametrize("depth", [255, 600, 1022])
def test_a_deeply_nested_batch_element_costs_only_itself(depth):
    raw = b"[" + orjson.dumps(GOOD) + b', {"event.id": "deep", "x": ' + nested(depth) + b"}]"
    events, rejections = decode_message(raw)
    assert [e["event.id"] for e in events] == ["good"]
    assert [r.index for r in rejections] == [1]
    assert orjson.loads(rejections[0].original)["event.id"] == "deep", "the dead letter is valid JSON"
    assert_well_formed(events, rejections)


def test_a_deep_list_in_event_id_is_rejected_with_a_short_reason():
    events, [rejection] = decode_message(b'{"event.id": ' + nested(1000) + b"}")
    assert events == [] and rejection.field == "event.id"
    assert len(rejection.reason) < 200


def test_a_document_nested_beyond_the_decoder_limit_is_not_json():
    events, [rejection] = decode_message(nested(2000))
    assert events == [] and "not valid JSON" in rejection.reason


def test_a_batch_over_the_element_cap_is_one_rejection_not_one_per_element():
    raw = b"[" + b",".join([b"{}"] * 300_000) + b"]"
    events, rejections = decode_message(raw)
    assert events == [] and len(rejections) == 1
    assert f"300000 elements > limit {DEFAULT_MAX_EVENTS_PER_MESSAGE}" in rejections[0].reason
    assert rejections[0].original == raw


def test_a_batch_at_the_element_cap_is_validated_element_by_element():
    events, rejections = decode_message(orjson.dumps([{**GOOD, "event.id": str(i)} for i in range(1000)]))
    assert len(events) == 1000 and rejections == []


def test_replay_never_stops_on_hostile_lines():
    lines = [b"\xff\xfe not utf-8", b"[" * 3000, b"[" + orjson.dumps(GOOD) + b', {"x": ' + nested(400) + b"}]",
             orjson.dumps({**GOOD, "app.cost.usd": -1}), b"[" + b",".join([b"{}"] * 5000) + b"]",
             orjson.dumps({**GOOD, "event.id": "last", "time_unix_nano": T0 + 1})]
    _, events, rejected = replay(lines, Settings(), io.BytesIO())
    assert (events, rejected) == (2, 5)


@BOUNDED
@given(BYTES)
def test_arbitrary_bytes_never_raise(raw):
    assert_well_formed(*decode_message(raw))


@BOUNDED
@given(DOCUMENTS)
def test_arbitrary_json_never_raises(doc):
    assert_well_formed(*decode_message(orjson.dumps(doc)))


@BOUNDED
@given(BATCHES)
def test_near_valid_events_are_accepted_or_rejected_by_name_and_never_break_the_engine(batch):
    pipeline = TelemetryPipeline(DetectionEngine(DetectorSettings()), clock=lambda: T0 / 1e9 + 3600)
    outcome = pipeline.handle(orjson.dumps(batch))
    assert_well_formed([], outcome.rejections)
    assert outcome.internal_errors == 0, [r.reason for r in outcome.rejections]
    assert outcome.events + outcome.duplicates + len(outcome.rejections) == len(batch)
    pipeline.advance(T0 + 150 * 10**9)  # close every bucket (events are within 120 s): the detectors read them
    assert pipeline.internal_errors == 0
