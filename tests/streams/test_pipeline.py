"""The worker's per-message step (``TelemetryPipeline.handle``) against producers that are buggy or hostile.

Every test feeds raw message bytes to a real pipeline over a real ``DetectionEngine``: what a worker or
``inferwatch replay`` does with each Kafka message.
"""
from __future__ import annotations

import functools
import io
import time

import orjson
import pytest

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.engine import DetectionEngine
from inferwatch.detectors.incidents import parse_incident
from inferwatch.streams.agents import handle_guarded
from inferwatch.streams.config import IngestSettings, Settings
from inferwatch.streams.pipeline import NS, TelemetryPipeline
from inferwatch.streams.replay import replay
from inferwatch.streams.simulate import START_NS, generate

#: the injected wall clock: one hour after the simulated traffic starts
NOW_S = START_NS / NS + 3600
SKEW_NS = int(IngestSettings().max_future_skew_s * NS)
BURST = parse_incident("error_burst@25m+4m:service.name=search-summarizer,gen_ai.request.model=gpt-4o-mini")


@functools.cache
def traffic() -> tuple[dict, ...]:
    """36 minutes of simulated traffic at 10 calls/s, with an error burst from minute 25 to 29."""
    return tuple(generate(4, START_NS, 36 * 60, 10, [BURST]))


def at_minute(events, minute: int) -> int:
    return next(i for i, e in enumerate(events) if e["time_unix_nano"] >= START_NS + minute * 60 * NS)


def pipeline(settings: DetectorSettings | None = None, **ingest) -> TelemetryPipeline:
    return TelemetryPipeline(DetectionEngine(settings or DetectorSettings()), ingest=IngestSettings(**ingest),
                             clock=lambda: NOW_S)


def messages(events: list[dict], size: int = 20) -> list[bytes]:
    return [orjson.dumps(events[i:i + size]) for i in range(0, len(events), size)]


def firing(records: list[dict], signal: str) -> list[dict]:
    return [r for r in records if r["signal"] == signal and r["status"] == "firing"]


def good_event(**overrides) -> dict:
    event = {"event.id": "e-1", "time_unix_nano": START_NS, "service.name": "chat", "gen_ai.provider.name": "openai",
             "gen_ai.request.model": "m", "gen_ai.operation.name": "chat", "gen_ai.client.operation.duration": 0.8}
    return {**event, **overrides}


@pytest.mark.parametrize("ahead_s", [73 * 365 * 86400, 3600], ids=["stamped 73 years ahead", "clock one hour fast"])
def test_an_event_from_the_future_is_dead_lettered_and_the_partition_keeps_detecting(ahead_s):
    events = traffic()
    split = at_minute(events, 20)
    future = {**events[split], "event.id": "from-the-future", "time_unix_nano": int(NOW_S * NS) + ahead_s * NS}
    p = pipeline()
    records = [r for raw in messages(events[:split]) for r in p.handle(raw).anomalies]
    outcome = p.handle(orjson.dumps(future))
    records += outcome.anomalies
    records += [r for raw in messages(events[split:]) for r in p.handle(raw).anomalies]

    assert [r.field for r in outcome.rejections] == ["time_unix_nano"]
    assert "in the future" in outcome.rejections[0].reason and "allowed skew" in outcome.rejections[0].reason
    assert p.watermark_ns <= NOW_S * NS + SKEW_NS
    assert firing(records, "error.rate"), "the error burst after the future event is still detected"
    assert not firing(records, "request.rate"), "no false traffic alarm from a jump in event time"


def test_an_event_within_the_allowed_skew_is_accepted():
    p = pipeline()
    outcome = p.handle(orjson.dumps(good_event(time_unix_nano=int(NOW_S * NS) + SKEW_NS - NS)))
    assert outcome.rejections == [] and outcome.events == 1


def test_the_watermark_never_moves_past_wall_clock_plus_skew():
    p = pipeline()
    p.handle(orjson.dumps(good_event()))
    p.advance(int(NOW_S * NS) + 10 * 86400 * NS)  # e.g. a long idle gap declared by the worker
    assert p.watermark_ns == int(NOW_S * NS) + SKEW_NS


def test_replay_of_a_file_running_into_the_future_follows_the_file_but_rejects_jumps():
    """A synthetic file may start now and run past the allowed skew: replay lets event time follow the file step by
    step, while one event far ahead of the file is still dead-lettered."""
    start = (int(time.time()) - 60) * NS
    events = list(generate(2, start, 900, 2, []))
    jump = {**events[-1], "event.id": "jump", "time_unix_nano": events[-1]["time_unix_nano"] + 86400 * NS}
    lines = [orjson.dumps(e) for e in events[:-1]] + [orjson.dumps(jump), orjson.dumps(events[-1])]
    _, processed, rejected = replay(lines, Settings(), io.BytesIO())
    assert (processed, rejected) == (len(events), 1)


@pytest.mark.parametrize("field,value", [
    ("app.cost.usd", -1), ("gen_ai.response.time_to_first_chunk", -1), ("app.stage.inference.duration", -0.5),
    ("gen_ai.usage.input_tokens", -1), ("app.input.chars", -2),
])
def test_a_negative_value_that_the_engine_takes_a_log_of_is_rejected_naming_the_field(field, value):
    p = pipeline()
    batch = [good_event(**{"event.id": "a"}), good_event(**{"event.id": "b", field: value}),
             good_event(**{"event.id": "c"})]
    outcome = p.handle(orjson.dumps(batch))
    assert outcome.events == 2, "the batch's valid events are processed"
    assert [(r.field, r.index) for r in outcome.rejections] == [(field, 1)]
    assert field in outcome.rejections[0].reason and "internal error" not in outcome.rejections[0].reason


def test_a_message_delivered_three_times_is_counted_once():
    """A producer without idempotence delivers every message from minute 30 on three times."""
    events = traffic()
    split = at_minute(events, 30)
    p = pipeline()
    records, duplicates, processed = [], 0, 0
    for raw in messages(events[:split]) + [m for raw in messages(events[split:]) for m in (raw, raw, raw)]:
        outcome = p.handle(raw)
        records += outcome.anomalies
        duplicates += outcome.duplicates
        processed += outcome.events
    assert not firing(records, "request.rate"), "duplicates made the traffic look tripled"
    assert (processed, duplicates) == (len(events), 2 * (len(events) - split))


def test_the_dedup_window_is_bounded_by_count_and_forgets_the_oldest_ids():
    p = pipeline(dedup_window_events=100)
    first = good_event(**{"event.id": "first"})
    p.handle(orjson.dumps(first))
    for i in range(100):
        p.handle(orjson.dumps(good_event(**{"event.id": f"e{i}", "time_unix_nano": START_NS + i})))
    outcome = p.handle(orjson.dumps(first))
    assert (outcome.events, outcome.duplicates) == (1, 0), "an id older than the window is not remembered"
    outcome = p.handle(orjson.dumps(good_event(**{"event.id": "e99", "time_unix_nano": START_NS + 99})))
    assert (outcome.events, outcome.duplicates) == (0, 1)


def test_the_dedup_window_forgets_ids_older_than_its_event_time_span():
    p = pipeline(dedup_window_s=60)
    p.handle(orjson.dumps(good_event(**{"event.id": "old"})))
    p.handle(orjson.dumps(good_event(**{"event.id": "new", "time_unix_nano": START_NS + 120 * NS})))
    outcome = p.handle(orjson.dumps(good_event(**{"event.id": "old"})))
    assert (outcome.events, outcome.duplicates) == (1, 0)


def test_an_event_that_breaks_the_engine_is_dead_lettered_and_the_rest_carry_on():
    """A bug of ours: a series key on a field the schema does not type-check, sent as a list (unhashable)."""
    settings = DetectorSettings(series_key=["service.name", "app.region"], extra_series_keys=[])
    p = pipeline(settings)
    batch = [good_event(**{"event.id": "a", "app.region": "eu"}), good_event(**{"event.id": "b", "app.region": ["eu"]}),
             good_event(**{"event.id": "c", "app.region": "us"})]
    outcome = p.handle(orjson.dumps(batch))
    assert outcome.events == 2 and outcome.internal_errors == 1
    [rejection] = outcome.rejections
    assert rejection.reason.startswith("internal error: TypeError: ")
    assert orjson.loads(rejection.original)["event.id"] == "b", "the dead letter holds the event that failed"
    later = p.handle(orjson.dumps(good_event(**{"event.id": "d", "app.region": "eu"})))
    assert (later.events, later.rejections) == (1, [])


def test_the_detect_agent_dead_letters_a_message_whose_handling_raises():
    """Around the pipeline the service also touches the checkpoint store and metrics: the agent's own barrier."""
    class Broken:
        def handle(self, raw, partition):
            raise ConnectionError("Error 111 connecting to localhost:6379. Connection refused.")

    outcome = handle_guarded(Broken(), b'{"event.id": "x"}', 3)
    assert [(r.reason, r.original) for r in outcome.rejections] == [
        ("internal error: ConnectionError: Error 111 connecting to localhost:6379. Connection refused.",
         b'{"event.id": "x"}')]
