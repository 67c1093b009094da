"""The producer helper as an application uses it: batches per service, samples stably, and surfaces failures."""
from __future__ import annotations

import socket

import orjson
import pytest

from inferwatch.streams.producer import DeliveryError, TelemetryProducer
from tests.streams.conftest import read_topic


def event(i: int, service: str) -> dict:
    return {"event.id": f"{service}-{i}", "service.name": service, "time_unix_nano": 1_767_225_600_000_000_000 + i}


@pytest.mark.kafka
def test_events_arrive_batched_per_service_keyed_by_service(kafka_bootstrap, new_topic):
    topic = new_topic("producer", partitions=3)
    producer = TelemetryProducer(kafka_bootstrap, topic, batch_size=10)
    for i in range(25):
        producer.send(event(i, "a"))
        producer.send(event(i, "b"))
    producer.flush()
    messages = read_topic(kafka_bootstrap, topic,
                          until=lambda ms: sum(len(orjson.loads(m.value())) if m.value().startswith(b"[") else 1
                                               for m in ms) >= 50)
    for message in messages:
        doc = orjson.loads(message.value())
        batch = doc if isinstance(doc, list) else [doc]
        assert {e["service.name"] for e in batch} == {message.key().decode()}
        assert len(batch) <= 10
    ids = [e["event.id"] for m in messages for e in (lambda d: d if isinstance(d, list) else [d])(orjson.loads(m.value()))]
    assert sorted(ids) == sorted(f"{s}-{i}" for s in "ab" for i in range(25)), "nothing lost, nothing twice"
    assert producer.delivered == len(messages) and producer.failed == 0


def test_sampling_is_stable_per_event_id_and_marks_the_rate():
    producer = TelemetryProducer("127.0.0.1:1", "unused", sample_rate=0.25, batch_size=10_000, linger_s=3600)
    kept = [producer.send(event(i, "a")) for i in range(4000)]
    queued = [orjson.loads(e) for e in producer._batches["a"]]
    assert len(queued) == sum(kept) and all(e["app.sample.rate"] == 0.25 for e in queued)
    again = [producer._keep(event(i, "a")) for i in range(4000)]
    assert kept == again, "the same event.id is always sampled the same way"
    assert 0.2 < sum(kept) / len(kept) < 0.3
    assert producer.sampled_out == kept.count(False)


def test_undeliverable_messages_raise_on_flush_with_the_reason():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    errors: list[str] = []
    producer = TelemetryProducer(f"127.0.0.1:{port}", "t", on_error=errors.append,
                                 config={"message.timeout.ms": 500, "enable.idempotence": False})
    producer.send(event(1, "a"))
    with pytest.raises(DeliveryError) as err:
        producer.flush(timeout=10)
    assert producer.failed == 1 and errors
    assert "timed out" in str(err.value).lower() or "transport" in str(err.value).lower()


def test_invalid_sample_rate_is_refused():
    with pytest.raises(ValueError, match="sample_rate"):
        TelemetryProducer("127.0.0.1:1", "t", sample_rate=0)
