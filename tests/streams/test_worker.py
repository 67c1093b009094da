"""Through the real broker: ``inferwatch worker`` turns a latency incident into an anomaly record, dead-letters bad
input without stopping, and survives a SIGKILL without losing an anomaly."""
from __future__ import annotations

import random
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from inferwatch.detectors.engine import DetectionEngine
from inferwatch.streams.pipeline import TelemetryPipeline
from inferwatch.streams.producer import TelemetryProducer
from inferwatch.streams.topics import ensure_topics
from tests.conftest import free_port
from tests.streams.conftest import committed_total, decode_records, read_all, read_topic, sample

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
T0 = 1_767_225_600_000_000_000
LATENCY = "gen_ai.client.operation.duration"
CHECKOUT = {"service.name": "checkout", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}
SEARCH = {"service.name": "search", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet"}


def traffic(minutes: int, spikes: list[tuple[int, int]], seed: int = 1) -> list[dict]:
    """Two services at 4 calls/s each; checkout's latency is 6x its normal inside each (start, end) minute range."""
    rng = random.Random(seed)
    events = []
    for i in range(minutes * 60 * 4):
        t = T0 + i * 250_000_000
        minute = i // 240
        for labels in (CHECKOUT, SEARCH):
            slow = labels is CHECKOUT and any(a <= minute < b for a, b in spikes)
            events.append({
                "event.id": f"{labels['service.name']}-{i}", "time_unix_nano": t, **labels,
                "gen_ai.operation.name": "chat", "error.type": None, "trace_id": f"tr-{labels['service.name']}-{i}",
                "gen_ai.client.operation.duration": round(rng.gauss(0.9, 0.08) * (6 if slow else 1), 4),
                "gen_ai.usage.input_tokens": rng.randint(300, 500), "gen_ai.usage.output_tokens": rng.randint(80, 120),
            })
    return events


def publish(settings, events: list[dict], batch_size: int = 20) -> None:
    producer = TelemetryProducer(settings.kafka.bootstrap, settings.kafka.telemetry_topic, batch_size=batch_size)
    for event in events:
        producer.send(event)
    producer.flush()


def latency_records(records: list[dict], service: str) -> list[dict]:
    return [r for r in records if r["signal"] == LATENCY and r["labels"].get("service.name") == service]


def test_latency_incident_becomes_an_anomaly_and_bad_input_is_dead_lettered(settings, workers):
    ensure_topics(settings.kafka)
    events = traffic(minutes=40, spikes=[(30, 34)])
    bad = [b"{not json", orjson.dumps({"event.id": "no-time", "service.name": "checkout"}), b"[1, 2]"]
    publish(settings, events[: len(events) // 2])
    raw = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    for value in bad:
        raw.produce(settings.kafka.telemetry_topic, value=value, key=b"checkout")
    raw.flush()
    publish(settings, events[len(events) // 2:])  # the incident comes after the bad input, on the same partition

    metrics_port = free_port()
    workers("detect", "--metrics-port", str(metrics_port))
    anomalies = read_topic(settings.kafka.bootstrap, settings.kafka.anomalies_topic,
                           until=lambda ms: latency_records(decode_records(ms), "checkout"))
    record = latency_records(decode_records(anomalies), "checkout")[0]
    assert {k: record["labels"][k] for k in CHECKOUT} == CHECKOUT
    assert record["kind"] == "threshold" and record["severity"] in ("warning", "critical")
    assert 0.8 < float(record["expected"]) < 1.0, "the baseline is the normal latency"
    assert record["value"] > 1.5 * float(record["expected"]) and 0 <= record["score"] <= 1
    assert T0 + 30 * 60 * 10**9 <= record["time_unix_nano"] <= T0 + 34 * 60 * 10**9, "detected in event time"
    assert record["exemplars"] and record["fingerprint"]

    dead = read_topic(settings.kafka.bootstrap, settings.kafka.dlq_topic, until=lambda ms: len(ms) >= 4)
    reasons = {m.value(): dict(m.headers())["inferwatch.reason"].decode() for m in dead}
    assert "not valid JSON" in reasons[b"{not json"]
    assert "time_unix_nano" in reasons[orjson.dumps({"event.id": "no-time", "service.name": "checkout"})]
    assert sum("event [" in r for r in reasons.values()) == 2, "each bad element of a batch is dead-lettered alone"

    all_records = decode_records(read_all(settings.kafka.bootstrap, settings.kafka.anomalies_topic))
    assert not latency_records(all_records, "search"), "the healthy service raised no latency anomaly"

    metrics = scrape_until(metrics_port, lambda text: sample(text, "inferwatch_events_total") >= len(events))
    assert sample(metrics, "inferwatch_events_total") == len(events), "every valid event was processed"
    assert sample(metrics, "inferwatch_events_rejected_total") == 4, "every rejection was counted"


def scrape_until(port: int, done, timeout_s: float = 60.0) -> str:
    """The worker's /metrics once ``done(text)`` (the last messages may still be in hand when the records are out)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        except urllib.error.URLError:  # not serving yet
            text = ""
        if done(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def test_sigterm_checkpoints_commits_every_handled_message_and_exits(settings, workers, pipeline_config, redis_client):
    """A stopped worker (a deploy, a scale-in) saves its state, commits what it handled and exits by itself: its
    successor neither replays those messages nor warms up again. The checkpoint interval is an hour here, so only
    the checkpoint taken at the stop can save and ack anything."""
    config = yaml.safe_load(pipeline_config.read_text())
    config["state"]["checkpoint_interval_s"] = 3600.0
    pipeline_config.write_text(yaml.safe_dump(config))
    ensure_topics(settings.kafka)
    events = traffic(minutes=3, spikes=[])
    publish(settings, events)
    metrics_port = free_port()
    worker = workers("detect", "--metrics-port", str(metrics_port))
    scrape_until(metrics_port, lambda text: sample(text, "inferwatch_events_total") >= len(events), timeout_s=120)
    assert committed_total(settings.kafka.bootstrap, settings.kafka.group_id, settings.kafka.telemetry_topic,
                           settings.kafka.partitions) == 0, "nothing is committed before a checkpoint covers it"

    worker.proc.terminate()
    assert worker.proc.wait(30) == 0, worker.log_tail()
    ends = end_offsets(settings.kafka.bootstrap, settings.kafka.telemetry_topic)
    assert committed_total(settings.kafka.bootstrap, settings.kafka.group_id, settings.kafka.telemetry_topic,
                           settings.kafka.partitions) == sum(ends) > 0
    assert redis_client.keys("inferwatch:detector-state:*"), "the series were checkpointed on the way out"
    assert "Logging error" not in worker.log.read_text(errors="replace")


def end_offsets(bootstrap: str, topic: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions]
    finally:
        consumer.close()


def offline_records(settings, events: list[dict], batch_size: int) -> list[dict]:
    """The same messages through the same pipeline in-process: what a run without crashes produces."""
    pipeline = TelemetryPipeline(DetectionEngine(settings.detectors))
    return [r for start in range(0, len(events), batch_size)
            for r in pipeline.handle(orjson.dumps(events[start:start + batch_size])).anomalies]


def episodes(records: list[dict]) -> list[tuple[str, int]]:
    """(fingerprint, event-time minute) of every episode opening."""
    return sorted({(r["fingerprint"], r["time_unix_nano"] // (60 * 10**9)) for r in records
                   if r.get("status", "firing") == "firing"})


def unmatched(wanted: list[tuple[str, int]], found: list[tuple[str, int]], slack_min: int = 2) -> list:
    return [(fp, m) for fp, m in wanted if not any(fp == f and abs(m - n) <= slack_min for f, n in found)]


def test_sigkill_mid_stream_resumes_without_losing_an_anomaly_or_warming_up_again(settings, workers):
    """Part one teaches the baseline; the worker is SIGKILLed while it consumes part two, whose incident starts
    one minute in: a restarted worker that had to warm up again would miss it."""
    ensure_topics(settings.kafka)
    events = traffic(minutes=90, spikes=[(20, 23), (46, 49)])
    split = next(i for i, e in enumerate(events) if e["time_unix_nano"] >= T0 + 45 * 60 * 10**9)
    topic, group, bootstrap = settings.kafka.telemetry_topic, settings.kafka.group_id, settings.kafka.bootstrap
    publish(settings, events[:split])
    first_part = committed_target = len(read_all(bootstrap, topic))

    first = workers("all")
    deadline = time.monotonic() + 120
    while committed_total(bootstrap, group, topic, 2) < committed_target:
        assert time.monotonic() < deadline, first.log_tail()
        time.sleep(0.1)
    time.sleep(2 * settings.state.checkpoint_interval_s)  # the baseline is checkpointed
    publish(settings, events[split:])
    first.kill()
    total = len(read_all(bootstrap, topic))
    killed_at = committed_total(bootstrap, group, topic, 2)
    assert first_part <= killed_at < total, "the kill must land mid-stream for this test to mean anything"

    workers("all")
    deadline = time.monotonic() + 180
    while committed_total(bootstrap, group, topic, 2) < total:
        assert time.monotonic() < deadline, "restarted worker did not finish the stream"
        time.sleep(0.5)

    online = episodes(decode_records(read_all(bootstrap, settings.kafka.anomalies_topic)))
    checkout = [e for e in events if e["service.name"] == "checkout"]
    search = [e for e in events if e["service.name"] == "search"]
    expected = episodes(offline_records(settings, checkout, 20) + offline_records(settings, search, 20))
    assert any(46 <= m - T0 // (60 * 10**9) < 49 for _, m in expected), "a clean run detects the second incident"
    assert not unmatched(expected, online), f"anomalies lost across the crash (or the restart warmed up again): " \
        f"clean run {expected}, with the crash {online}"
    assert not unmatched(online, expected), f"the crash produced anomalies a clean run does not: " \
        f"clean run {expected}, with the crash {online}"

    paged = {fp for fp, _ in expected}
    outbox = Path(settings.alerting.outbox_path)
    deadline = time.monotonic() + 60
    while not paged <= {line["fingerprint"] for line in sends(outbox)}:
        assert time.monotonic() < deadline, "not every anomaly was paged after the crash"
        time.sleep(0.5)
    keys = [line["idempotency_key"] for line in sends(outbox)]
    assert len(keys) == len(set(keys)), "a page was sent twice across the crash"


def sends(outbox: Path) -> list[dict]:
    if not outbox.exists():
        return []
    return [line for line in map(orjson.loads, outbox.read_bytes().splitlines()) if line["action"] == "send"]
