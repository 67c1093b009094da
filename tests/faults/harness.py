"""The fault suite's bench: one simulated stream, real ``inferwatch worker`` processes, fake Slack and PagerDuty.

Why a module of its own (not only fixtures): ``scripts/fault_suite.py`` runs the same cases outside pytest and prints
the table of docs/faults.md, so the cases and the way they are counted are written once, here.

A *run* is one case: its own topics, consumer group and Redis database, fresh fake providers, the shared stream
published once to its telemetry topic, and workers started as users start them. What a run is judged by:

* pages: each first page is known by its key, the outbox idempotency key a Slack message carries in its metadata,
  and the ``dedup_key`` of a PagerDuty incident. *Expected* is what the undisturbed run paged; *duplicated* counts
  a Slack message posted again or a PagerDuty incident opened again for one key; *lost* is an expected key that never
  reached its provider.
* events: every telemetry message of the stream committed by the consumer group (processed), and the anomaly records
  on the anomalies topic, as (fingerprint, status, event time), against the undisturbed run's.
"""
from __future__ import annotations

import json
import os
import ssl
import re
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterable

import orjson
import redis
import trustme
import yaml
from confluent_kafka import Consumer, TopicPartition

from inferwatch.alerting.outbox import Outbox
from inferwatch.detectors.incidents import Incident
from inferwatch.streams.producer import TelemetryProducer
from inferwatch.streams.republish import by_service_topic
from inferwatch.streams.simulate import DEPLOYMENTS, START_NS, generate
from tests.alerting.conftest import FakePagerDuty, FakeSlack
from tests.conftest import free_port
from tests.streams.conftest import WorkerProcess, committed_total, decode_records, events_handled, read_all

NS = 1_000_000_000
PARTITIONS = 4
CHANNEL = "C0FAULTS"
KEY_PREFIX = "inferwatch:alerting:"
#: 25 minutes of event time at 4 calls/s (~7k events): the detectors warm up for 10 minutes, then six incidents on
#: six series, 11 alerts in all
STREAM_SEED, STREAM_DURATION_S, STREAM_RATE = 7, 1500.0, 4.0
EVENTS_PER_MESSAGE = 20


def _series(i: int) -> dict:
    d = DEPLOYMENTS[i]
    return {"service.name": d.service, "gen_ai.provider.name": d.provider, "gen_ai.request.model": d.model}


INCIDENTS = tuple(Incident(kind, start_s, 180.0, _series(deployment)) for kind, start_s, deployment in (
    ("latency_spike", 600, 0), ("error_burst", 750, 2), ("latency_spike", 900, 4),
    ("error_burst", 1050, 1), ("latency_spike", 1200, 3), ("error_burst", 1300, 5)))
#: provider calls time out fast and a claim's lease is short, so a crashed worker's page is taken over in seconds
HTTP_TIMEOUT_S = 2.0
#: the production retry schedule with its times divided by 6 (a 2-minute outage becomes 20 s): backoff from 1/3 s
#: doubling to 10 s, a 50 s budget; attempts as the default allows
TIME_SCALE = 6.0
RETRY = {"backoff_base_s": 2.0 / TIME_SCALE, "backoff_max_s": 60.0 / TIME_SCALE, "budget_s": 300.0 / TIME_SCALE,
         "lease_s": 5.0}
SETTLE_TIMEOUT_S = 120.0
#: consecutive polls a run must look finished for (the idle timer and the tick may still add work between two)
QUIET_POLLS = 3
POLL_S = 0.5


@cache
def stream() -> tuple[dict, ...]:
    """The shared simulated stream: seeded, so every run (and the undisturbed one) sees the very same events."""
    return tuple(generate(STREAM_SEED, START_NS, STREAM_DURATION_S, STREAM_RATE, list(INCIDENTS), day_s=0))


# --- what a run is judged by ---------------------------------------------------------------------------------

#: first pages, not thread replies announcing a transition: ``fp/episode/r<round>/l<level>/<target>``
PAGE_KEY = re.compile(r"/r\d+/l\d+/[^/]+$")


def slack_pages(slack: FakeSlack) -> Counter:
    """Messages posted per page key (a thread reply for a grouped alert is a page too)."""
    found: Counter = Counter()
    for message in slack.messages.get(CHANNEL, []):
        metadata = message.get("metadata") or {}
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        key = (metadata.get("event_payload") or {}).get("idempotency_key", "")
        if PAGE_KEY.search(key):
            found[("slack", key)] += 1
    return found


def pagerduty_pages(pagerduty: FakePagerDuty) -> Counter:
    """Incidents opened per dedup_key (a re-sent trigger on an open incident folds into it: not a second page)."""
    return Counter(("pagerduty", incident["dedup_key"]) for incident in pagerduty.incidents)


@dataclass
class Figures:
    """One row of the fault table."""

    case: str
    pages_expected: int
    pages_sent: int
    duplicated: int
    lost: int
    #: pages the undisturbed run did not send (a fault that invents an alert)
    unexpected: int
    events: int
    events_processed: int
    anomalies_expected: int
    anomalies_matched: int
    anomalies_extra: int
    seconds: float
    note: str = ""

    @property
    def clean(self) -> bool:
        return (self.duplicated == self.lost == self.unexpected == self.anomalies_extra == 0
                and self.pages_sent == self.pages_expected and self.events_processed == self.events
                and self.anomalies_matched == self.anomalies_expected)


TABLE_HEADER = ("| case | pages expected | sent | duplicated | lost | events processed (vs undisturbed) "
                "| anomaly records (vs undisturbed) | run time |\n|---|---:|---:|---:|---:|---:|---:|---:|")


def table_row(f: Figures) -> str:
    extra = f" (+{f.unexpected} unexpected)" if f.unexpected else ""
    anomalies = f"{f.anomalies_matched}/{f.anomalies_expected}" + (f" +{f.anomalies_extra}" if f.anomalies_extra
                                                                   else "")
    return (f"| {f.case} | {f.pages_expected} | {f.pages_sent}{extra} | {f.duplicated} | {f.lost} "
            f"| {f.events_processed}/{f.events} | {anomalies} | {f.seconds:.0f} s |")


@dataclass
class Outcome:
    """What a finished run left behind, compared against the undisturbed run by ``figures``."""

    pages: Counter
    anomalies: set
    events: int
    events_processed: int
    seconds: float

    def figures(self, case: str, undisturbed: "Outcome", note: str = "") -> Figures:
        expected = {key for key in undisturbed.pages}
        sent = set(self.pages)
        return Figures(case, len(expected), len(sent & expected), sum(n - 1 for n in self.pages.values()),
                       len(expected - sent), len(sent - expected), self.events, self.events_processed,
                       len(undisturbed.anomalies), len(self.anomalies & undisturbed.anomalies),
                       len(self.anomalies - undisturbed.anomalies), self.seconds, note)


class FaultWorker(WorkerProcess):
    """``inferwatch worker --role all`` (with the tests' short group timeouts) that a provider's thread can kill."""

    def sigkill(self) -> None:
        """SIGKILL without waiting (safe from a provider's request thread)."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)


# --- services the cases disturb ------------------------------------------------------------------------------

class RedisServer:
    """A redis-server of the test's own, with AOF fsynced on every write, that can be SIGKILLed and restarted on the
    same port and data dir (the session's Redis runs without persistence)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return self
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


def kill_broker(stack) -> None:
    """SIGKILL the Kafka broker of a ``tests.conftest.LocalStack`` (its recorded pid, nothing else)."""
    pid = int((stack.run_dir / "kafka" / "kafka.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def take_down(slack: FakeSlack) -> None:
    """Connections to the fake Slack are refused until ``bring_back``."""
    slack.httpd.shutdown()
    slack.httpd.server_close()


def bring_back(slack: FakeSlack) -> None:
    """Listen again on the same port, with the messages posted before the outage."""
    handler = slack.httpd.RequestHandlerClass
    slack.httpd = ThreadingHTTPServer(("127.0.0.1", slack.port), handler)
    slack.httpd.daemon_threads = True
    slack.thread = threading.Thread(target=slack.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    slack.thread.start()


# --- one run -------------------------------------------------------------------------------------------------

@dataclass
class Run:
    """One case: its topics, group, Redis database, providers and workers."""

    name: str
    directory: Path
    bootstrap: str
    redis_url: str
    slack: FakeSlack
    pagerduty: FakePagerDuty
    workers: list[FaultWorker] = field(default_factory=list)
    metrics_ports: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tag = f"{self.name}-{uuid.uuid4().hex[:8]}"
        self.telemetry_topic, self.anomalies_topic = f"f-{tag}.telemetry", f"f-{tag}.anomalies"
        self.group = f"f-{tag}"
        self.config = self.directory / "inferwatch.yaml"
        self.config.write_text(yaml.safe_dump(self.settings_mapping()))
        self.started = time.monotonic()
        client = redis.Redis.from_url(self.redis_url)
        client.flushdb()
        client.close()

    def settings_mapping(self) -> dict:
        http = {"timeout_s": HTTP_TIMEOUT_S}
        return {
            "kafka": {"bootstrap": self.bootstrap, "telemetry_topic": self.telemetry_topic,
                      "anomalies_topic": self.anomalies_topic, "dlq_topic": f"{self.telemetry_topic}.dlq",
                      "otlp_topic": "", "group_id": self.group, "partitions": PARTITIONS},
            "redis": {"url": self.redis_url},
            "state": {"checkpoint_interval_s": 1.0, "signing_key": "fault-suite-signing-key-0123456789"},
            "alerting": {
                "outbox_path": str(self.directory / "outbox.jsonl"),
                "targets": {"slack": {"type": "slack", "channel": CHANNEL}, "pagerduty": {"type": "pagerduty"}},
                "policies": {"default": {"levels": [{"targets": ["slack", "pagerduty"]}]}},
                "slack": {"token": "xoxb-fault-suite", "api_url": self.slack.base_url, **http},
                "pagerduty": {"routing_key": "F" * 32, "events_url": self.pagerduty.base_url,
                              "ca_file": self.pagerduty.ca_file, **http},
                "email": http, "webhook": http, "retry": RETRY,
            },
        }

    # -- driving

    def publish(self, events: Iterable[dict] | None = None) -> int:
        """The shared stream (or ``events``, a part of it), batched per service as the producer helper does; returns
        the number of messages on the topic."""
        producer = TelemetryProducer(self.bootstrap, self.telemetry_topic, batch_size=EVENTS_PER_MESSAGE)
        for event in stream() if events is None else events:
            producer.send(event)
        producer.flush(60)
        return sum(self.end_offsets(self.telemetry_topic).values())

    def start_worker(self) -> FaultWorker:
        port = free_port()
        worker = FaultWorker(self.config, self.directory / f"worker-{len(self.workers)}.log", "all",
                               "--metrics-port", str(port)).start()
        self.workers.append(worker)
        self.metrics_ports.append(port)
        return worker

    def events_handled(self, worker: int = -1) -> float:
        """``inferwatch_events_total`` of a worker (0 until its metrics endpoint answers)."""
        return events_handled(self.metrics_ports[worker])

    def wait_until(self, condition: Callable[[], bool], what: str, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {what} after {timeout_s:.0f} s\n{self.log_tails()}")
            time.sleep(0.1)

    def log_tails(self) -> str:
        return "\n".join(f"--- worker {i}\n{w.log_tail(30)}" for i, w in enumerate(self.workers) if w.log.exists())

    # -- reading what happened

    def end_offsets(self, topic: str) -> dict[int, int]:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        finally:
            consumer.close()

    def committed(self, topic: str) -> int:
        return committed_total(self.bootstrap, self.group, topic, PARTITIONS)

    def outbox_open(self) -> int:
        """Outbox entries not settled yet (queued, in retry, or claimed by a worker)."""
        client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        try:
            return sum(e.status in ("queued", "sending") for e in Outbox(client, KEY_PREFIX).entries())
        finally:
            client.close()

    def finished(self) -> bool:
        """Every telemetry and anomaly message committed, and every decided message settled."""
        try:
            for topic in (self.telemetry_topic, by_service_topic(self.telemetry_topic), self.anomalies_topic):
                if self.committed(topic) < sum(self.end_offsets(topic).values()):
                    return False
            return self.outbox_open() == 0
        except Exception:  # a service is being restarted: not finished
            return False

    def settle(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while quiet < QUIET_POLLS:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: not finished after {timeout_s:.0f} s\n{self.log_tails()}")
            quiet = quiet + 1 if self.finished() else 0
            time.sleep(POLL_S)

    def outcome(self) -> Outcome:
        records = decode_records(read_all(self.bootstrap, self.anomalies_topic))
        anomalies = {(r["fingerprint"], r.get("status", "firing"), r["time_unix_nano"]) for r in records}
        messages = sum(self.end_offsets(self.telemetry_topic).values())
        events = len(stream())
        processed = events if self.committed(self.telemetry_topic) >= messages else -1
        if processed < 0:  # not all committed: count the events of the committed messages
            processed = self._events_committed()
        return Outcome(slack_pages(self.slack) + pagerduty_pages(self.pagerduty), anomalies, events, processed,
                       time.monotonic() - self.started)

    def _events_committed(self) -> int:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                             "enable.auto.commit": False})
        try:
            offsets = consumer.committed([TopicPartition(self.telemetry_topic, p) for p in range(PARTITIONS)], 10)
        finally:
            consumer.close()
        upto = {tp.partition: max(tp.offset, 0) for tp in offsets}
        return sum(len(orjson.loads(m.value())) for m in read_all(self.bootstrap, self.telemetry_topic)
                   if m.offset() < upto.get(m.partition(), 0))

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


# --- the bench shared by the runs ----------------------------------------------------------------------------

def provider_tls(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A throwaway CA and the fake PagerDuty's certificate (the real client insists on https)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    directory.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    return context, str(directory / "ca.pem")


class Lab:
    """What the runs share: a directory, the broker, the Redis server (a database per run), the providers' CA."""

    #: Redis databases 1..15 go to runs in turn (0 is the other tests')
    DATABASES = 15

    def __init__(self, directory: Path, bootstrap: str, redis_url: str) -> None:
        self.directory = directory
        self.bootstrap = bootstrap
        self.redis_base = redis_url.rsplit("/", 1)[0]
        self.tls = provider_tls(directory / "tls")
        self.runs: list[Run] = []
        self._undisturbed: Outcome | None = None

    def run(self, name: str, *, bootstrap: str | None = None, redis_url: str | None = None) -> Run:
        db = len(self.runs) % self.DATABASES + 1
        made = Run(name, self.directory / f"{len(self.runs):02d}-{name}", bootstrap or self.bootstrap,
                   redis_url or f"{self.redis_base}/{db}", FakeSlack(), FakePagerDuty(*self.tls))
        self.runs.append(made)
        return made

    def undisturbed(self) -> Outcome:
        """The reference: one worker, the stream, nothing disturbed (run once, on first use)."""
        if self._undisturbed is None:
            run = self.run("undisturbed")
            try:
                run.publish()
                run.start_worker()
                run.settle()
                self._undisturbed = run.outcome()
            finally:
                self.finish(run)
        return self._undisturbed

    def finish(self, run: Run) -> None:
        run.stop()
        run.slack.close()
        run.pagerduty.close()

    def close(self) -> None:
        for run in self.runs:
            self.finish(run)
