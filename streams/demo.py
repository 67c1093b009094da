"""``inferwatch demo``: the whole product on the local stack in about a minute.

It publishes a simulated LLM workload with labelled incidents (plus a few malformed messages) to Kafka, runs a real
``inferwatch worker`` process on it (alerts go to the console/outbox notifier when no Slack/PagerDuty credentials are
set), waits until the worker has consumed everything, then scores what reached the anomalies topic against the
incidents it injected. The last line is machine-readable: ``injected=N detected=M``.

Each run resets inferwatch's own keys in the local Redis (detector state, alerts), because a demo replays the same
simulated hours: learned baselines and open alerts from the previous run would change what this run shows.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid

import orjson
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from inferwatch.detectors.contract import NS
from inferwatch.detectors.evaluation import evaluate
from inferwatch.detectors.incidents import parse_incident
from inferwatch.streams import simulate
from inferwatch.streams.config import Settings
from inferwatch.streams.producer import TelemetryProducer
from inferwatch.streams.topics import ensure_topics

#: what a broker answers about a partition whose leader is still being set up
NOT_READY = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART}
#: what the demo injects: one of each sudden kind an on-call engineer meets most, spaced out after the warm-up
DEMO_INCIDENTS = (
    "latency_spike@40m+5m:service.name=support-bot,gen_ai.request.model=gpt-4o",
    "error_burst@60m+4m:service.name=search-summarizer,gen_ai.request.model=gpt-4o-mini",
    "traffic_stall@80m+8m:service.name=code-assistant,gen_ai.request.model=claude-opus-4",
    "output_collapse@100m+6m:service.name=code-assistant,gen_ai.request.model=mistral-large",
    "safety_wave@120m+8m:service.name=code-assistant,gen_ai.request.model=claude-opus-4",
    "canary_regression@140m+10m:service.name=support-bot,app.variant=canary",
)
#: malformed messages mixed into the workload, to show the dead-letter topic at work
MALFORMED = (b"{not json", b'{"event.id": "missing-fields"}', b'[{"event.id": "x", "time_unix_nano": 5}]')


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="simulate incidents, run the pipeline on them, print a summary")
    parser.add_argument("--hours", type=float, default=3.0, help="simulated hours of traffic (default 3)")
    parser.add_argument("--rate", type=float, default=15.0, help="simulated LLM calls per second (default 15)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the simulated traffic (default 7)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    kafka = settings.kafka
    ensure_topics(kafka)
    reset_redis_state(settings.redis.url)
    anomalies_start = end_offsets(kafka.bootstrap, kafka.anomalies_topic)
    duration_s = args.hours * 3600
    start_ns = (time.time_ns() - int(duration_s * NS)) // NS * NS
    incidents = [i for i in map(parse_incident, DEMO_INCIDENTS) if i.start_s + i.duration_s <= duration_s]
    say(f"publishing {args.hours:g} simulated hours at {args.rate:g} calls/s with {len(incidents)} incidents: "
        + ", ".join(sorted({i.kind for i in incidents})))
    sent = publish(settings, simulate.generate(args.seed, start_ns, duration_s, args.rate, incidents))
    telemetry_end = end_offsets(kafka.bootstrap, kafka.telemetry_topic)

    say(f"published {sent} events; starting `inferwatch worker`")
    config = ["--config", args.config] if args.config else []
    worker = subprocess.Popen([sys.executable, "-m", "inferwatch.streams.cli", *config, "--log-level", "WARNING", "worker"],
                              env=os.environ.copy())
    started = time.monotonic()
    try:
        caught_up = wait_for_offsets(kafka.bootstrap, kafka.group_id, kafka.telemetry_topic, telemetry_end,
                                     started + args.timeout, worker)
        elapsed = time.monotonic() - started
        anomalies_end = end_offsets(kafka.bootstrap, kafka.anomalies_topic)
        wait_for_offsets(kafka.bootstrap, kafka.group_id, kafka.anomalies_topic, anomalies_end,
                         time.monotonic() + 60, worker)
        time.sleep(3)  # let the escalation tick print the last pages
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
    if not caught_up:
        say("the worker did not consume the workload in time")
        return 1
    records = read_range(kafka.bootstrap, kafka.anomalies_topic, anomalies_start, anomalies_end)
    report = evaluate(records, incidents, duration_s, start_ns=start_ns)
    say(f"worker consumed {sent} events in {elapsed:.1f}s ({sent / elapsed:,.0f} events/s incl. start-up); "
        f"{len(records)} anomaly records; {len(MALFORMED)} malformed messages sent to {kafka.dlq_topic}")
    print(report.table())
    print(f"injected={report.injected} detected={report.detected}")
    return 0


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def reset_redis_state(url: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match="inferwatch:*", count=1000))
    if keys:
        client.delete(*keys)


def publish(settings: Settings, events) -> int:
    producer = TelemetryProducer(settings.kafka.bootstrap, settings.kafka.telemetry_topic)
    sent = 0
    for sent, event in enumerate(events, 1):
        producer.send(event)
        if sent == 1000:  # a few bad messages early in the stream; the worker must carry on past them
            raw = Producer({"bootstrap.servers": settings.kafka.bootstrap})
            for value in MALFORMED:
                raw.produce(settings.kafka.telemetry_topic, value=value, key=b"demo-malformed")
            raw.flush()
    producer.flush()
    return sent


def end_offsets(bootstrap: str, topic: str, timeout_s: float = 30.0) -> dict[int, int]:
    """End offset of each partition; a broker that just created the topic answers NOT_LEADER for a moment."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"demo-{uuid.uuid4().hex}"})
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
                return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
            except KafkaException as exc:
                if exc.args[0].code() not in NOT_READY or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


def wait_for_offsets(bootstrap: str, group: str, topic: str, target: dict[int, int], deadline: float,
                     worker: subprocess.Popen) -> bool:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        while time.monotonic() < deadline and worker.poll() is None:
            committed = consumer.committed([TopicPartition(topic, p) for p in target], timeout=10)
            if all(tp.offset >= target[tp.partition] or target[tp.partition] == 0 for tp in committed):
                return True
            time.sleep(0.5)
        return False
    finally:
        consumer.close()


def read_range(bootstrap: str, topic: str, start: dict[int, int], end: dict[int, int]) -> list[dict]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"demo-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    wanted = {p: end[p] - start.get(p, 0) for p in end if end[p] > start.get(p, 0)}
    consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in wanted])
    records: list[dict] = []
    deadline = time.monotonic() + 60
    try:
        while sum(wanted.values()) > 0 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            if msg.offset() < end[msg.partition()]:
                records.append(orjson.loads(msg.value()))
                wanted[msg.partition()] -= 1
        return records
    finally:
        consumer.close()
