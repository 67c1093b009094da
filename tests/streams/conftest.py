"""A worker as users run it: ``inferwatch worker`` in its own process, against the session's real Kafka and Redis."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest
import yaml
from confluent_kafka import Consumer, KafkaException, TopicPartition

from inferwatch.streams.config import load_settings


#: Faust's consumer-group timeouts, read from the environment: a SIGKILLed worker's partitions go to another member
#: after the session timeout (Faust's default is 60 s; 6 s is the broker's minimum), so a kill costs seconds here
GROUP_TIMEOUTS = {"BROKER_SESSION_TIMEOUT": "6", "BROKER_HEARTBEAT_INTERVAL": "1", "BROKER_REBALANCE_TIMEOUT": "20"}


class WorkerProcess:
    def __init__(self, config: Path, log: Path, role: str = "detect", *extra: str) -> None:
        self.config, self.log, self.role, self.extra = config, log, role, extra
        self.proc: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        with open(self.log, "ab") as handle:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "inferwatch.streams.cli", "--config", str(self.config), "worker",
                 "--role", self.role, *self.extra],
                stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1", **GROUP_TIMEOUTS})
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to commit offsets or checkpoint, like a crashed host."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def pipeline_config(tmp_path, kafka_bootstrap, redis_url, redis_client):
    """A config file with topics and a consumer group of this test's own, on the session's broker and an emptied
    Redis (series keys repeat across tests, and a checkpoint of another test's series would be restored)."""
    run = uuid.uuid4().hex[:8]
    config = {
        "kafka": {"bootstrap": kafka_bootstrap, "telemetry_topic": f"t-{run}.telemetry",
                  "anomalies_topic": f"t-{run}.anomalies", "dlq_topic": f"t-{run}.dlq",
                  "group_id": f"g-{run}", "partitions": 2},
        "redis": {"url": redis_url},
        "state": {"checkpoint_interval_s": 1.0, "signing_key": "test-signing-key-0123456789"},
        "alerting": {"outbox_path": str(tmp_path / "outbox.jsonl")},
    }
    path = tmp_path / "inferwatch.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def settings(pipeline_config):
    return load_settings(pipeline_config, env={})


@pytest.fixture
def workers(tmp_path, pipeline_config):
    started: list[WorkerProcess] = []

    def start(role: str = "detect", *extra: str) -> WorkerProcess:
        worker = WorkerProcess(pipeline_config, tmp_path / f"worker-{len(started)}.log", role, *extra).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def read_topic(bootstrap: str, topic: str, *, until, timeout_s: float = 120.0) -> list:
    """Read ``topic`` from the beginning until ``until(messages)`` is true; fail after ``timeout_s``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    messages: list = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                messages.append(msg)
            if until(messages):
                return messages
    finally:
        consumer.close()
    raise AssertionError(f"timed out after {timeout_s}s reading {topic}: {len(messages)} messages")


def read_all(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list:
    """Everything in ``topic`` right now (up to each partition's end offset)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()
    total = sum(ends.values())
    return read_topic(bootstrap, topic, until=lambda ms: len(ms) >= total, timeout_s=timeout_s)


def decode_records(messages: list) -> list[dict]:
    return [orjson.loads(m.value()) for m in messages]


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Sum of the group's committed offsets; the coordinator may move while workers come and go, so retry."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        for attempt in range(20):
            try:
                offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
                return sum(max(tp.offset, 0) for tp in offsets)
            except KafkaException:
                time.sleep(0.25)
        raise AssertionError(f"could not read committed offsets of {group}")
    finally:
        consumer.close()


def sample(text: str, name: str) -> float:
    """Sum of a metric's samples over all label values, from Prometheus text format."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith(name + "_created") and line[len(name)] in " {")


def events_handled(port: int) -> float:
    """``inferwatch_events_total`` of the worker whose metrics endpoint is on ``port`` (0 until it answers)."""
    try:
        return sample(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode(),
                      "inferwatch_events_total")
    except OSError:
        return 0.0
