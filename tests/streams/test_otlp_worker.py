"""Through the real broker: spans in both encodings of the Collector's Kafka exporter, on the OTLP topic, are turned
into events by ``inferwatch worker`` and processed by its detection agent; what is not OTLP is dead-lettered."""
from __future__ import annotations

import time
import urllib.request
import uuid

import orjson
import pytest
import yaml
from confluent_kafka import Producer

from inferwatch.streams.config import load_settings
from inferwatch.streams.deadletter import REASON, SOURCE_TOPIC
from inferwatch.streams.topics import ensure_topics
from tests.conftest import free_port
from tests.streams.conftest import read_topic, sample
from tests.streams.otel_sdk import Recorder, encode
from tests.streams.test_otlp import CHAT, rag_trace

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


@pytest.fixture
def otlp_settings(pipeline_config):
    """The test's config with an OTLP topic of its own (the default ``otlp_spans`` would be shared by tests)."""
    config = yaml.safe_load(pipeline_config.read_text())
    config["kafka"]["otlp_topic"] = f"otlp-{uuid.uuid4().hex[:8]}"
    pipeline_config.write_text(yaml.safe_dump(config))
    return load_settings(pipeline_config, env={})


def test_worker_turns_otlp_proto_and_json_spans_into_processed_events(otlp_settings, workers):
    kafka = otlp_settings.kafka
    ensure_topics(kafka)
    app = Recorder(service="rag-api")
    split_trace = rag_trace(app)  # three exports of one trace: retrieval spans, LLM + tool, then the root
    trace_id = split_trace[0][0].context.trace_id.to_bytes(16, "big").hex()
    app.span("chat", 10, 11, **CHAT, **{"app.tenant.id": "acme"})
    single = app.take()
    app.span("chat without model", 12, 13, **{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"})
    bad_span = app.take()

    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for spans, encoding in zip(split_trace, ("otlp_json", "otlp_proto", "otlp_json")):
        producer.produce(kafka.otlp_topic, key=trace_id.encode(), value=encode(spans, encoding))
    producer.produce(kafka.otlp_topic, value=encode(single, "otlp_proto"))  # unkeyed, as the exporter's default
    producer.produce(kafka.otlp_topic, value=encode(bad_span, "otlp_json"))
    producer.produce(kafka.otlp_topic, value=b"\x00\xffnot otlp at all")
    producer.flush(30)

    metrics_port = free_port()
    workers("detect", "--metrics-port", str(metrics_port))
    messages = read_topic(kafka.bootstrap, kafka.telemetry_topic,
                          until=lambda ms: sum(len(orjson.loads(m.value())) for m in ms) >= 4)
    events = {e["event.id"]: e for m in messages for e in orjson.loads(m.value())}
    assert {m.key() for m in messages} == {b"rag-api"}, "re-published keyed by service: one series, one partition"
    [call] = [e for e in events.values() if e.get("gen_ai.request.model") == "gpt-4o" and e["trace_id"] == trace_id]
    assert call["app.stage.retrieval.duration"] == pytest.approx(0.6)
    assert call["app.stage.inference.duration"] == pytest.approx(2.0)
    assert any(e.get("app.tenant.id") == "acme" for e in events.values())

    dead = read_topic(kafka.bootstrap, kafka.dlq_topic, until=lambda ms: len(ms) >= 2)
    reasons = {dict(m.headers())[SOURCE_TOPIC].decode(): dict(m.headers())[REASON].decode() for m in dead}
    assert "not valid otlp_proto" in reasons[kafka.otlp_topic]
    assert "gen_ai.request.model" in reasons[kafka.telemetry_topic]

    deadline = time.monotonic() + 60
    while True:  # the detection agent validated and processed the converted events
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        if sample(metrics, "inferwatch_events_total") >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sample(metrics, "inferwatch_events_total") == 3, "LLM call + embedding of the trace, and the single call"
    assert sample(metrics, 'inferwatch_otlp_total{outcome="complete"}') == 3, "the split trace and two single calls"
