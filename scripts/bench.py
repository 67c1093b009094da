"""Throughput of the live pipeline as a ratio to a raw Kafka consumer on the same topic, measured in one run.

    make bench-pipeline            # or: .venv/bin/python scripts/bench_pipeline.py --events 200000

It publishes simulated telemetry (batched as the producer helper batches) to a fresh topic, then times
1. a plain confluent-kafka consumer reading every message (no decoding): the ceiling Kafka itself sets here;
2. an ``inferwatch worker --role detect`` process consuming the same topic until its group has committed the end
   offsets (JSON decoding, validation, every default detector, anomalies and checkpoints included).
Both clocks start when the first message is seen (raw: first message received; worker: first offset committed),
so consumer-group join and start-up are left out of both; the ratio is what the pipeline's work costs.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid

import yaml
from confluent_kafka import Consumer, TopicPartition

from streams import simulate
from streams.config import load_settings
from streams.producer import TelemetryProducer
from streams.topics import ensure_topics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=100, help="events per Kafka message")
    parser.add_argument("--partitions", type=int, default=1)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    base = load_settings()
    config = {"kafka": {"bootstrap": base.kafka.bootstrap, "telemetry_topic": f"bench-{run}.telemetry",
                        "anomalies_topic": f"bench-{run}.anomalies", "dlq_topic": f"bench-{run}.dlq",
                        "group_id": f"bench-{run}", "partitions": args.partitions},
              "redis": {"url": base.redis.url}}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle)
    settings = load_settings(handle.name, env={})
    ensure_topics(settings.kafka)

    rate = 20.0
    events = simulate.generate(1, 1_767_225_600 * 10**9, args.events / rate, rate, [])
    producer = TelemetryProducer(settings.kafka.bootstrap, settings.kafka.telemetry_topic, batch_size=args.batch_size,
                                 linger_s=3600)
    sent = sum(producer.send(event) for event in events)
    producer.flush()
    messages = producer.delivered
    print(f"published {sent} events in {messages} messages to {settings.kafka.telemetry_topic}")

    raw_s = time_raw_consumer(settings.kafka.bootstrap, settings.kafka.telemetry_topic, messages)
    worker_s, worker_messages = time_worker(handle.name, settings, messages)
    raw_eps, worker_eps = sent / raw_s, sent * worker_messages / messages / worker_s
    print(f"raw consumer : {raw_s:7.2f} s  {raw_eps:12,.0f} events/s")
    print(f"worker       : {worker_s:7.2f} s  {worker_eps:12,.0f} events/s")
    print(f"ratio worker/raw = {worker_eps / raw_eps:.3f}")
    os.unlink(handle.name)
    return 0


def time_raw_consumer(bootstrap: str, topic: str, messages: int) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen, started = 0, None
    while seen < messages:
        for msg in consumer.consume(1000, 1.0):
            if not msg.error():
                seen += 1
                started = started or time.perf_counter()
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def time_worker(config_path: str, settings, messages: int) -> tuple[float, int]:
    """Seconds from the worker's first commit to its last, and how many messages that span covered."""
    kafka = settings.kafka
    started = None
    worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "--config", config_path, "--log-level", "WARNING",
                               "worker", "--role", "detect"])
    probe = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": kafka.group_id, "enable.auto.commit": False})
    partitions = [TopicPartition(kafka.telemetry_topic, p) for p in range(kafka.partitions)]
    try:
        while True:
            committed = sum(max(tp.offset, 0) for tp in probe.committed(partitions, timeout=10))
            if committed and started is None:
                started, first = time.perf_counter(), committed
            if committed >= messages:
                print(f"(worker timing covers the last {messages - first} of {messages} messages)")
                return time.perf_counter() - started, messages - first
            if worker.poll() is not None:
                raise SystemExit("the worker exited before consuming the topic")
            time.sleep(0.05)
    finally:
        probe.close()
        worker.terminate()
        worker.wait(60)


if __name__ == "__main__":
    sys.exit(main())
