"""`make bench`: the pipeline's speed through the real local broker (issue 12), as a table and as JSON.

    make bench                                    # or: .venv/bin/python scripts/bench.py --json bench.json

It brings the project's own stack up (scripts/stack.sh; what it started, it stops at the end) and measures, each on
fresh topics and a fresh consumer group:

1. **batched**: a raw confluent-kafka consumer that decodes every message (orjson) against one ``inferwatch worker
   --role detect`` (every default detector) on the same 1-partition topic, 100 events per message;
2. **single**: the same with one event per message;
3. **latency** at half of the worker's measured batched maximum: a detect and an escalate worker, a history that
   warms the detectors up, then live traffic stamped with the wall clock and an injected ``error_burst``.
   event->record: a record's Kafka timestamp minus the moment its bucket could close (bucket end + allowed
   lateness, when the producer sent the event that closed it); record->page: the console notifier's outbox line
   for an alert's first page minus the Kafka timestamp of that alert's first firing record;
4. **escalation**: ``AlertingService.ingest`` (one call per record) and ``ingest_many`` (a batch per call) in this
   process against Redis, in-memory notifiers: first records open alerts, the rest are deduplicated updates of the
   open ones;
5. **memory**: pickled checkpoint bytes per series (model series, tenant series) after a warmed-up replay;
6. **scaling**: 1 and 2 detect workers on a 4-partition topic (services spread evenly over the partitions), with the
   CPU seconds each worker and the broker used (``/proc/<pid>/stat``); three pairs of runs, the median pair shown.

The throughput runs encode their messages before the clock starts and then only produce them, so the bench's own
JSON encoding does not take the workers' CPU. Worker clocks start when publishing starts (the workers are idle and
already own their partitions) and stop when the workers' detection has processed every event
(``inferwatch_events_total`` on their metrics endpoints); the group's commit of the last message, which follows the
next checkpoint (every ``state.checkpoint_interval_s``, 5 s by default), is waited for too and reported as
``commit_lag_s``. The raw consumer's clock starts at its first message. Events come from ``streams.simulate`` (a
pool, repeated with new times and ids, since the simulator itself makes only ~13k events/s).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import redis  # noqa: E402
import yaml  # noqa: E402
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from inferwatch.streams import simulate  # noqa: E402
from inferwatch.streams.config import load_settings  # noqa: E402
from inferwatch.streams.producer import PLACEMENT, TelemetryProducer, batch_message  # noqa: E402
from inferwatch.streams.republish import partition_for  # noqa: E402
from inferwatch.streams.topics import ensure_topics  # noqa: E402

NS = 1_000_000_000
STACK = ROOT / "scripts" / "stack.sh"
RUN_DIR = Path(os.environ.get("INFERWATCH_RUN_DIR", ROOT / ".run")).resolve()
TICKS = os.sysconf("SC_CLK_TCK")
#: the calls/s the event pools are generated at (events per call measured on them)
POOL_RATE = 1000.0
POOL_S = 60.0
STARTUP_TIMEOUT_S = 90.0
#: the Redis database the benchmark owns: emptied before every run, so no run restores detector checkpoints (keyed
#: by series, whatever the topics) left by an earlier one, or by the demo in database 0
BENCH_REDIS_DB = 15
DRAIN_TIMEOUT_S = 300.0
#: how often the workers' metrics are read while waiting for them: a scrape costs a worker CPU, so not more often
SCRAPE_EVERY_S = 0.25
#: what the second half of the latency run's live traffic suffers (an episode opens per series and signal hit, so
#: this makes a few dozen records: the percentiles are over those)
LIVE_INCIDENTS = ("error_burst@0s+10s", "latency_spike@0s+10s:service.name=code-assistant")
#: live events are sent at most this early (sleeping for every event would cost more than it measures)
PACE_NS = 2_000_000


# --- the local stack and processes ---------------------------------------------------------------------------

@contextlib.contextmanager
def local_stack():
    """scripts/stack.sh up; on exit, down for the services this run started (a stack already up stays up)."""
    started = [s for s in ("kafka", "redis")
               if subprocess.run(["bash", str(STACK), "status", s], capture_output=True).returncode != 0]
    try:
        subprocess.run(["bash", str(STACK), "up"], check=True)
        yield (f"127.0.0.1:{os.environ.get('INFERWATCH_KAFKA_PORT', '9092')}",
               f"redis://127.0.0.1:{os.environ.get('INFERWATCH_REDIS_PORT', '6379')}/{BENCH_REDIS_DB}")
    finally:
        if started:
            subprocess.run(["bash", str(STACK), "down", *started])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port() -> int:
    """A port the kernel says is free now (for a worker's metrics endpoint)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service_pid(service: str) -> int | None:
    try:
        return int((RUN_DIR / service / f"{service}.pid").read_text())
    except (OSError, ValueError):
        return None


@dataclass
class Run:
    """One benchmark's private topics, consumer group, alert keys and outbox, as a config file for the workers."""

    bootstrap: str
    redis_url: str
    partitions: int
    workdir: Path

    def __post_init__(self) -> None:
        run = uuid.uuid4().hex[:8]
        self.outbox = self.workdir / f"outbox-{run}.jsonl"
        config = {"kafka": {"bootstrap": self.bootstrap, "telemetry_topic": f"bench-{run}.telemetry",
                            "anomalies_topic": f"bench-{run}.anomalies", "dlq_topic": f"bench-{run}.dlq",
                            "otlp_topic": "", "group_id": f"bench-{run}", "partitions": self.partitions},
                  "redis": {"url": self.redis_url},
                  "alerting": {"key_prefix": f"bench-{run}:alerting:", "outbox_path": str(self.outbox)}}
        self.config_path = self.workdir / f"config-{run}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.settings = load_settings(self.config_path, env={})
        ensure_topics(self.settings.kafka)
        redis.Redis.from_url(self.redis_url).flushdb()
        self.workers: list[subprocess.Popen] = []
        self.metrics_ports: list[int] = []

    @property
    def kafka(self):
        return self.settings.kafka

    def start_worker(self, role: str = "detect") -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
        port = free_port()
        worker = subprocess.Popen([sys.executable, "-m", "inferwatch.streams.cli", "--config", str(self.config_path),
                                   "--log-level", "WARNING", "worker", "--role", role, "--metrics-port", str(port)],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        self.workers.append(worker)
        self.metrics_ports.append(port)
        return worker

    def events_processed(self) -> float:
        """Valid events the workers' detection processed (``inferwatch_events_total``, summed over workers)."""
        total = 0.0
        for port in self.metrics_ports:
            with contextlib.suppress(OSError):
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
                total += sum(sample.value for family in text_string_to_metric_families(text)
                             if family.name == "inferwatch_events" for sample in family.samples
                             if sample.name == "inferwatch_events_total")
        return total

    def wait_processed(self, events: int, timeout_s: float = DRAIN_TIMEOUT_S) -> float:
        """Waits until the workers processed ``events``; returns the perf_counter time it saw that. Throughput is
        measured to here: the group's commit follows the next checkpoint (``state.checkpoint_interval_s``), a
        fixed lag that says nothing about speed."""
        deadline = time.monotonic() + timeout_s
        while self.events_processed() < events:
            if time.monotonic() > deadline:
                raise SystemExit(f"the workers did not process {events} events in {timeout_s} s")
            if any(w.poll() is not None for w in self.workers):
                raise SystemExit("a worker exited while consuming")
            time.sleep(SCRAPE_EVERY_S)
        return time.perf_counter()

    def wait_assigned(self, members: int, topics: list[str]) -> None:
        """Until the group is stable with ``members`` members and every partition of ``topics`` is assigned."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            for worker in self.workers:
                if worker.poll() is not None:
                    raise SystemExit(f"a worker exited during start-up (code {worker.returncode})")
            try:
                group = admin.describe_consumer_groups([self.kafka.group_id])[self.kafka.group_id].result(10)
            except KafkaException:  # the group's coordinator is not known yet
                time.sleep(0.2)
                continue
            assigned = {(tp.topic, tp.partition) for m in group.members
                        for tp in (m.assignment.topic_partitions if m.assignment else [])}
            if (str(group.state).endswith("STABLE") and len(group.members) == members
                    and all((t, p) in assigned for t in topics for p in range(self.partitions))):
                time.sleep(1.0)  # Faust starts its fetchers after the assignment is stable
                return
            time.sleep(0.2)
        raise SystemExit(f"group {self.kafka.group_id} not stable with {members} member(s) in {STARTUP_TIMEOUT_S} s")

    def committed(self, topic: str) -> int:
        probe = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.kafka.group_id,
                          "enable.auto.commit": False})
        try:
            parts = probe.committed([TopicPartition(topic, p) for p in range(self.partitions)], timeout=10)
            return sum(max(tp.offset, 0) for tp in parts)
        finally:
            probe.close()

    def end_offsets(self, topic: str) -> int:
        probe = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
        try:
            return sum(probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                       for p in range(self.partitions))
        finally:
            probe.close()

    def wait_committed(self, topic: str, messages: int, timeout_s: float = DRAIN_TIMEOUT_S) -> float:
        """Waits until the group committed ``messages`` on ``topic``; returns the perf_counter time it saw that."""
        deadline = time.monotonic() + timeout_s
        while self.committed(topic) < messages:
            if time.monotonic() > deadline:
                raise SystemExit(f"the workers did not commit {messages} messages of {topic} in {timeout_s} s")
            if any(w.poll() is not None for w in self.workers):
                raise SystemExit("a worker exited while consuming")
            time.sleep(0.05)
        return time.perf_counter()

    def clean_up(self) -> None:
        """The run's topics (the by-service one the workers made too) and the data dir Faust made for its group
        (streams/app.py) go when the run is done."""
        shutil.rmtree(Path(tempfile.gettempdir()) / f"inferwatch-faust-{self.kafka.group_id}", ignore_errors=True)
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        prefix = self.kafka.group_id
        names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        for future in admin.delete_topics(names, operation_timeout=30).values() if names else []:
            with contextlib.suppress(KafkaException):
                future.result(30)

    def stop(self) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.workers.clear()
        self.metrics_ports.clear()


# --- events --------------------------------------------------------------------------------------------------

class EventPool:
    """Simulated events repeated as long as needed: each pass shifted by the pool's span, with fresh event ids
    (the pipeline deduplicates ids), and service names optionally renamed (``services``)."""

    def __init__(self, seed: int, duration_s: float, rate: float, incidents: list | None = None) -> None:
        self.events = list(simulate.generate(seed, 0, duration_s, rate, incidents or []))
        self.span_ns = int(duration_s * NS)

    def events_per_s(self) -> float:
        return len(self.events) / (self.span_ns / NS)

    def stream(self, start_ns: int, count: int | None = None, services: dict | None = None):
        n = 0
        for lap in itertools.count():
            shift = start_ns + lap * self.span_ns
            for event in self.events:
                if count is not None and n >= count:
                    return
                copy = {**event, "time_unix_nano": event["time_unix_nano"] + shift,
                        "event.id": f"{event['event.id']}.{lap}"}
                if services is not None:
                    copy["service.name"] = services[copy["service.name"]][n % len(services[copy["service.name"]])]
                n += 1
                yield copy


def spread_services(names: set[str], partitions: int) -> dict[str, list[str]]:
    """For each service, ``partitions`` variants of its name, one landing on each partition: the events of every
    service are spread evenly, so each partition carries the same load."""
    spread = {}
    for name in sorted(names):
        variants: dict[int, str] = {}
        i = 0
        while len(variants) < partitions:
            variant = f"{name}-{i}"
            variants.setdefault(partition_for(variant.encode(), partitions), variant)
            i += 1
        spread[name] = [variants[p] for p in range(partitions)]
    return spread


def publish(run: Run, events, batch_size: int) -> tuple[int, int]:
    producer = TelemetryProducer(run.bootstrap, run.kafka.telemetry_topic, batch_size=batch_size, linger_s=3600)
    sent = sum(producer.send(event) for event in events)
    producer.flush(120)
    return sent, producer.delivered


# --- 1, 2, 6: throughput ---------------------------------------------------------------------------------------

def encode_messages(events: list[dict], batch_size: int) -> list[tuple[bytes, bytes]]:
    """The (key, value) messages ``TelemetryProducer(batch_size=batch_size)`` sends for ``events`` when no batch
    lingers out: per service, a JSON array of ``batch_size`` events (one event alone), in order.

    The throughput runs encode before the workers' clock starts: the bench's own encoding took 0.6 of a core while
    it published, on the same 2 cores as the workers it times (in production, producers run elsewhere).

    >>> encode_messages([{"service.name": "a", "n": 1}, {"service.name": "b"}, {"service.name": "a", "n": 2}], 2)
    [(b'a', b'[{"service.name":"a","n":1},{"service.name":"a","n":2}]'), (b'b', b'{"service.name":"b"}')]
    """
    batches: dict[str, list[bytes]] = {}
    messages = []
    for event in events:
        key = str(event.get("service.name", ""))
        batch = batches.setdefault(key, [])
        batch.append(orjson.dumps(event))
        if len(batch) >= batch_size:
            messages.append((key.encode(), batch_message(batches.pop(key))))
    messages.extend((key.encode(), batch_message(batch)) for key, batch in batches.items())
    return messages


def publish_encoded(run: Run, messages: list[tuple[bytes, bytes]]) -> None:
    """Produces ``messages`` as the telemetry producer would place them (its partitioner and compression)."""
    producer = Producer({"bootstrap.servers": run.bootstrap, "linger.ms": 20, **PLACEMENT})
    for key, value in messages:
        while True:
            try:
                producer.produce(run.kafka.telemetry_topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(120):
        raise SystemExit("the benchmark's messages were not all delivered in 120 s")


def raw_consumer(run: Run, messages: int) -> tuple[float, float]:
    """Seconds a plain consumer takes to receive and JSON-decode ``messages`` (from its first message), and the CPU
    seconds this process (librdkafka's threads included) spent meanwhile."""
    consumer = Consumer({"bootstrap.servers": run.bootstrap, "group.id": f"raw-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([run.kafka.telemetry_topic])
    seen, started = 0, None
    while seen < messages:
        for msg in consumer.consume(1000, 1.0):
            if not msg.error():
                if started is None:
                    started, cpu = time.perf_counter(), time.process_time()
                orjson.loads(msg.value())
                seen += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    consumer.close()
    return elapsed, cpu


def throughput(stack, workdir: Path, pool: EventPool, events: int, batch_size: int, partitions: int = 1,
               workers: int = 1, raw: bool = True) -> dict:
    bootstrap, redis_url = stack
    run = Run(bootstrap, redis_url, partitions, workdir)
    services = None
    if partitions > 1:
        services = spread_services({e["service.name"] for e in pool.events}, partitions)
    stream = list(pool.stream(simulate.START_NS, events, services))
    encoded = encode_messages(stream, batch_size)
    sent, messages = len(stream), len(encoded)
    try:
        pids = [run.start_worker("detect").pid for _ in range(workers)]
        run.wait_assigned(workers, [run.kafka.telemetry_topic])
        broker = service_pid("kafka")
        cpu_before = [cpu_s(pid) for pid in pids] + ([cpu_s(broker)] if broker else [])
        started = time.perf_counter()
        publish_encoded(run, encoded)
        published_s = time.perf_counter() - started
        processed = run.wait_processed(sent)
        committed = run.wait_committed(run.kafka.telemetry_topic, messages)
        cpu_after = [cpu_s(pid) for pid in pids] + ([cpu_s(broker)] if broker else [])
    finally:
        run.stop()
    cpu = [round(b - a, 2) for a, b in zip(cpu_before, cpu_after)]
    wall = processed - started
    result = {"events": sent, "messages": messages, "events_per_message": batch_size, "partitions": partitions,
              "workers": workers, "publish_s": round(published_s, 2), "worker_s": round(wall, 2),
              "commit_lag_s": round(committed - processed, 2),
              "worker_events_per_s": round(sent / wall), "worker_cpu_s": cpu[:workers],
              "broker_cpu_s": cpu[workers] if broker else None,
              "worker_events_per_cpu_s": round(sent / sum(cpu[:workers]))}
    if raw:
        raw_s, raw_cpu = raw_consumer(run, messages)
        result.update(raw_s=round(raw_s, 2), raw_events_per_s=round(sent / raw_s), raw_cpu_s=round(raw_cpu, 2),
                      raw_events_per_cpu_s=round(sent / raw_cpu), ratio=round(raw_s / wall, 3),
                      ratio_per_cpu_s=round(raw_cpu / sum(cpu[:workers]), 3))
    run.clean_up()
    return result


# --- 3: latency at half load -------------------------------------------------------------------------------------

def latency(stack, workdir: Path, events_per_s: float, live_s: float, seed: int = 5) -> dict:
    """Live traffic at ``events_per_s`` stamped with the wall clock, after a slow history that warms up the
    detectors; ``LIVE_INCIDENTS`` from half way through the live phase (the jump from the history's rate to the
    live rate is a traffic surge too)."""
    bootstrap, redis_url = stack
    run = Run(bootstrap, redis_url, 1, workdir)
    detectors = run.settings.detectors
    bucket_s, lateness_s = detectors.bucket_s, detectors.allowed_lateness_s
    history_s = (detectors.baseline.warmup_buckets + 8) * bucket_s
    history = EventPool(seed, history_s, 40.0)
    calm = EventPool(seed + 1, 10.0, POOL_RATE)
    burst = EventPool(seed + 2, 10.0, POOL_RATE, [simulate.incident_argument(spec) for spec in LIVE_INCIDENTS])
    speedup = events_per_s / calm.events_per_s()  # the pools are replayed this much faster than made
    try:
        run.start_worker("detect")
        run.start_worker("escalate")
        run.wait_assigned(2, [run.kafka.telemetry_topic, run.kafka.anomalies_topic])
        # the history's event time ends where the live phase starts, once the worker has caught up with it
        catch_up_s = len(history.events) / events_per_s * 2 + 10
        live_ns = time.time_ns() + int(catch_up_s * NS)
        hist_start_ns = live_ns - history.span_ns
        sent, messages = publish(run, history.stream(hist_start_ns, len(history.events)), 100)
        run.wait_committed(run.kafka.telemetry_topic, messages)
        while time.time_ns() < live_ns:
            time.sleep(0.01)
        detect_pid = run.workers[0].pid
        cpu_before, live_started = cpu_s(detect_pid), time.perf_counter()
        live_events = live_phase(run, calm, burst, live_ns, live_s, speedup)
        cpu_live = cpu_s(detect_pid) - cpu_before
        live_wall = time.perf_counter() - live_started
        run.wait_committed(run.kafka.telemetry_topic, run.end_offsets(run.kafka.telemetry_topic))
        anomalies = run.end_offsets(run.kafka.anomalies_topic)
        run.wait_committed(run.kafka.anomalies_topic, anomalies)
        time.sleep(3.0)  # the escalation tick (every second) delivers what the last records decided
    finally:
        run.stop()
    records = read_records(run)
    run.clean_up()
    live_from_s = live_ns / NS + bucket_s  # the first live bucket's records follow the history's silent gap
    to_record = [stamp - (rec["time_unix_nano"] / NS + lateness_s) for stamp, rec in records
                 if rec["time_unix_nano"] / NS >= live_from_s]
    first_record: dict[str, float] = {}
    for stamp, rec in records:
        if rec.get("status") == "firing" and rec["time_unix_nano"] / NS >= live_from_s:
            first_record.setdefault(rec["fingerprint"], stamp)
    pages = {}
    for line in run.outbox.read_text().splitlines() if run.outbox.exists() else []:
        page = json.loads(line)
        if page["action"] == "send":
            pages.setdefault(page["fingerprint"], page["time"])
    to_page = [pages[fp] - stamp for fp, stamp in first_record.items() if fp in pages]
    return {"events_per_s": round(events_per_s), "live_s": live_s, "live_events": live_events,
            "history_events": sent, "detect_worker_cpu_share": round(cpu_live / live_wall, 2),
            "records": len(to_record), "event_to_record_s": percentiles(to_record),
            "alerts_paged": len(to_page), "record_to_page_s": percentiles(to_page)}


def live_phase(run: Run, calm: EventPool, burst: EventPool, live_ns: int, live_s: float, speedup: float) -> int:
    """Send calm traffic, then the burst, each event when the wall clock reaches its (compressed) time."""
    producer = TelemetryProducer(run.bootstrap, run.kafka.telemetry_topic, batch_size=100, linger_s=0.05)
    half_ns = int(live_s / 2 * NS)
    sent = 0
    for pool, start_ns, span_ns in ((calm, live_ns, half_ns), (burst, live_ns + half_ns, half_ns)):
        for event in pool.stream(0):
            offset = int(event["time_unix_nano"] / speedup)
            if offset >= span_ns:
                break
            t = start_ns + offset
            ahead_ns = t - time.time_ns()
            if ahead_ns > PACE_NS:
                time.sleep(ahead_ns / NS)
            event["time_unix_nano"] = t
            producer.send(event)
            sent += 1
    producer.flush(60)
    return sent


def read_records(run: Run) -> list[tuple[float, dict]]:
    """Every anomaly record on the run's topic with its Kafka timestamp (seconds)."""
    consumer = Consumer({"bootstrap.servers": run.bootstrap, "group.id": f"read-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([run.kafka.anomalies_topic])
    wanted, out = run.end_offsets(run.kafka.anomalies_topic), []
    deadline = time.monotonic() + 60
    while len(out) < wanted and time.monotonic() < deadline:
        for msg in consumer.consume(1000, 1.0):
            if not msg.error():
                out.append((msg.timestamp()[1] / 1000, orjson.loads(msg.value())))
    consumer.close()
    return out


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 3),
            "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3), "max": round(ordered[-1], 3)}


# --- 4: escalation engine ----------------------------------------------------------------------------------------

def escalation(stack, workdir: Path, templates: list[dict], records: int, alerts: int, batch: int) -> dict:
    """``records`` anomaly records into Redis, twice on fresh keys: one ``ingest`` call per record, and
    ``ingest_many`` of ``batch`` records at a time (what a worker does with a batch of consumed records). The first
    ``alerts`` records open alerts, the rest are deduplicated updates of them."""
    from inferwatch.detectors.engine import fingerprint

    settings = dataclasses.replace(load_settings(env={}).alerting,
                                   outbox_path=str(workdir / "escalation-outbox.jsonl"))
    made = []
    for i in range(records):
        template = templates[i % alerts % len(templates)]  # one kind of record per alert
        labels = {**template["labels"], "service.name": f"bench-svc-{i % alerts}"}
        made.append({**template, "labels": labels, "status": "firing",
                     "time_unix_nano": template["time_unix_nano"] + (i // alerts) * 15 * NS,
                     "fingerprint": fingerprint(template["detector"], template["signal"], labels)})

    def one_at_a_time(service) -> None:
        for record in made:
            service.ingest(record)

    def batched(service) -> None:
        for start in range(0, records, batch):
            service.ingest_many(made[start:start + batch])

    return {"records": records, "distinct_alerts": alerts, "batch": batch,
            "one_at_a_time": timed_ingest(stack[1], settings, one_at_a_time, records),
            "batched": timed_ingest(stack[1], settings, batched, records)}


def timed_ingest(redis_url: str, settings, feed, records: int) -> dict:
    """Wall and CPU time (this process and Redis) of ``feed(service)`` on alert keys of its own, deleted after."""
    from inferwatch.alerting.notifiers.memory import InMemoryNotifier
    from inferwatch.alerting.service import AlertingService

    run_prefix = f"bench-{uuid.uuid4().hex[:8]}:alerting:"
    service = AlertingService.from_settings(dataclasses.replace(settings, key_prefix=run_prefix), redis_url,
                                            notifiers={name: InMemoryNotifier() for name in settings.targets})
    redis_pid = service_pid("redis")
    redis_before, cpu_before = (cpu_s(redis_pid) if redis_pid else 0.0), time.process_time()
    started = time.perf_counter()
    feed(service)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    redis_cpu = cpu_s(redis_pid) - redis_before if redis_pid else None
    opened = len(service.store.active_alerts())
    service.close()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=run_prefix + "*", count=1000):
        client.delete(key)
    return {"active_alerts": opened, "wall_s": round(wall, 2), "records_per_s": round(records / wall),
            "python_cpu_s": round(cpu, 2), "redis_cpu_s": round(redis_cpu, 2) if redis_cpu is not None else None,
            "records_per_cpu_s": round(records / (cpu + redis_cpu)) if redis_cpu is not None else None}


# --- 5: memory per series ----------------------------------------------------------------------------------------

def memory(minutes: float, seed: int = 9) -> tuple[dict, list[dict]]:
    """Checkpoint bytes per series after ``minutes`` of simulated traffic (an error burst at the end, whose
    records serve as the escalation benchmark's templates)."""
    from inferwatch.detectors.engine import DetectionEngine
    from inferwatch.detectors.state import InMemoryStateStore
    from inferwatch.streams.pipeline import TelemetryPipeline

    settings = load_settings(env={})
    store = InMemoryStateStore()  # keeps the checkpoint blobs, to weigh them
    engine = DetectionEngine(settings.detectors, store=store)
    pipeline = TelemetryPipeline(engine, ingest=settings.ingest, clock=lambda: 4e9)
    incident = simulate.incident_argument(f"error_burst@{minutes * 60 - 300:.0f}s+240s:service.name=support-bot")
    records = []
    for event in simulate.generate(seed, simulate.START_NS, minutes * 60, 20.0, [incident]):
        records += pipeline.handle(orjson.dumps(event)).anomalies
    engine.checkpoint()
    sizes: dict[str, list[int]] = {}
    for key, blob in store.items.items():
        parsed = json.loads(key)
        kind = "model" if isinstance(parsed, list) else ("tenant" if "app.tenant.id" in parsed else
                                                         "+".join(sorted(k for k in parsed if k != "service.name")))
        sizes.setdefault(kind, []).append(len(blob))
    result = {kind: {"series": len(v), "mean_bytes": round(statistics.mean(v)), "max_bytes": max(v)}
              for kind, v in sorted(sizes.items())}
    return result, [r for r in records if r.get("status") == "firing"] or records


# --- 6: 1 vs 2 workers ------------------------------------------------------------------------------------------

def scaling(stack, workdir: Path, pool: EventPool, events: int, pairs: int) -> dict:
    """``pairs`` runs of one worker then two on a 4-partition topic, each pair's ratio of events/s, and the pair
    with the median ratio as the headline: on this 2-core machine one pair's ratio moves by +-0.2 between runs."""
    runs = []
    for pair in range(1, pairs + 1):
        one = report(f"scaling {pair}: 1 worker", throughput(stack, workdir, pool, events, 100, 4, 1, raw=False))
        two = report(f"scaling {pair}: 2 workers", throughput(stack, workdir, pool, events, 100, 4, 2, raw=False))
        runs.append({"1": one, "2": two, "ratio": round(two["worker_events_per_s"] / one["worker_events_per_s"], 2)})
    median = sorted(runs, key=lambda r: r["ratio"])[(len(runs) - 1) // 2]
    return {**median, "ratios": [r["ratio"] for r in runs], "runs": runs}


# --- 7: replay against JSON decoding (no broker) ---------------------------------------------------------------

def replay_speed(minutes: float, profile_top: int = 0, seed: int = 3) -> dict:
    """``inferwatch replay``'s function over ``minutes`` of simulated traffic (default incidents, one event per
    line), against ``orjson.loads`` of the same lines, on one core; with ``profile_top``, a cProfile of the replay
    (top functions by cumulative time) printed to stdout."""
    import cProfile
    import io
    import pstats

    from inferwatch.streams.replay import replay

    lines = [orjson.dumps(e) for e in simulate.generate(seed, simulate.START_NS, minutes * 60, 20.0,
                                                        simulate.default_incidents(minutes * 60))]
    settings = load_settings(env={})
    started = time.process_time()
    for line in lines:
        orjson.loads(line)
    json_s = time.process_time() - started
    started = time.process_time()
    counts, events, rejected = replay(lines, settings, io.BytesIO())
    replay_s = time.process_time() - started
    if profile_top:
        profiler = cProfile.Profile()
        profiler.runcall(replay, lines, settings, io.BytesIO())
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(profile_top)
    return {"events": events, "records": sum(counts.values()), "rejected": rejected,
            "json_events_per_cpu_s": round(len(lines) / json_s), "replay_events_per_cpu_s": round(events / replay_s),
            "ratio": round(json_s / replay_s * events / len(lines), 3)}


# --- report --------------------------------------------------------------------------------------------------

def table(results: dict) -> str:
    b, s, lat, esc, mem, sc = (results.get(k) for k in ("batched", "single", "latency", "escalation", "memory",
                                                          "scaling"))
    rows = [("measure", "result", "target")]
    if b:
        rows += [("raw consumer, batched (100 events/message)", throughput_cell(b, "raw"), ""),
                 ("worker, batched", throughput_cell(b, "worker") + ratios(b), ">= 0.5 of raw")]
    if s:
        rows += [("raw consumer, 1 event/message", throughput_cell(s, "raw"), ""),
                 ("worker, 1 event/message", throughput_cell(s, "worker") + ratios(s), ">= 8k events/s per core")]
    if lat:
        e, p = lat["event_to_record_s"], lat["record_to_page_s"]
        rows += [(f"event->record at {lat['events_per_s']:,} events/s (n={e['n']})",
                  f"p50 {e['p50']} s, p99 {e['p99']} s", "p99 <= 1 s"),
                 (f"record->first page (n={p['n']})", f"p50 {p['p50']} s, p99 {p['p99']} s", "p99 <= 2 s")]
    if esc:
        for how, label in (("one_at_a_time", "1 record/call"), ("batched", f"{esc['batch']} records/call")):
            r = esc[how]
            rows.append((f"escalation ingest, {label} ({esc['distinct_alerts']} alerts, dedup updates)",
                         f"{r['records_per_s']:,} records/s wall, {r['records_per_cpu_s']:,} per CPU-s (bench + "
                         f"Redis CPU {r['python_cpu_s']} + {r['redis_cpu_s']} s of {r['wall_s']} s)",
                         ">= 5k records/s"))
    rep = results.get("replay")
    if rep:
        rows.append(("replay vs orjson.loads of the same lines (one core)",
                     f"{rep['replay_events_per_cpu_s']:,} vs {rep['json_events_per_cpu_s']:,} events/CPU-s: ratio "
                     f"{rep['ratio']}", ">= 0.5"))
    if mem:
        for kind, m in mem.items():
            target = {"model": "<= 4 KB", "tenant": "<= 1 KB"}.get(kind, "")
            rows.append((f"checkpoint per {kind} series ({m['series']})",
                         f"{m['mean_bytes']:,} B (max {m['max_bytes']:,})", target))
    if sc:
        one, two = sc["1"], sc["2"]
        rows.append((f"1 vs 2 workers, 4 partitions (median of {len(sc['ratios'])} pairs: x"
                     + ", x".join(map(str, sc["ratios"])) + ")",
                     f"{one['worker_events_per_s']:,} vs {two['worker_events_per_s']:,} events/s: x{sc['ratio']}; "
                     f"CPU s workers {one['worker_cpu_s']} vs {two['worker_cpu_s']}, broker {one['broker_cpu_s']} vs "
                     f"{two['broker_cpu_s']}", ">= 1.6x"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def throughput_cell(result: dict, who: str) -> str:
    return f"{result[who + '_events_per_s']:,} events/s wall, {result[who + '_events_per_cpu_s']:,} per CPU-s"


def ratios(result: dict) -> str:
    return f"; ratio {result['ratio']} wall, {result['ratio_per_cpu_s']} per CPU-s"


SECTIONS = ("batched", "single", "latency", "escalation", "memory", "scaling", "replay")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events of the batched and scaling runs")
    parser.add_argument("--single-events", type=int, default=40_000, help="events of the one-event-per-message run")
    parser.add_argument("--live-s", type=float, default=90.0, help="seconds of live traffic in the latency run")
    parser.add_argument("--records", type=int, default=20_000, help="anomaly records into the escalation engine")
    parser.add_argument("--alerts", type=int, default=500, help="distinct open alerts they update")
    parser.add_argument("--escalation-batch", type=int, default=100,
                        help="records per ingest_many call in the batched escalation run")
    parser.add_argument("--scaling-pairs", type=int, default=3,
                        help="runs of 1 then 2 workers; the table shows the pair with the median ratio")
    parser.add_argument("--memory-minutes", type=float, default=20.0, help="simulated minutes weighed for memory")
    parser.add_argument("--replay-minutes", type=float, default=30.0, help="simulated minutes of the replay run")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile the replay run and print its top N functions by cumulative time")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only these sections (repeatable)")
    parser.add_argument("--half-load", type=float, default=0.0,
                        help="events/s of the latency run when 'batched' is not run (default: half its result)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    sections = args.only or SECTIONS
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform()}, "args": vars(args)}
    started = time.perf_counter()
    with local_stack() as stack, tempfile.TemporaryDirectory(prefix="inferwatch-bench-") as tmp:
        workdir = Path(tmp)
        pool = EventPool(1, POOL_S, POOL_RATE) if {"batched", "single", "scaling"} & set(sections) else None
        if "batched" in sections:
            results["batched"] = report("batched", throughput(stack, workdir, pool, args.events, 100))
        if "single" in sections:
            results["single"] = report("single", throughput(stack, workdir, pool, args.single_events, 1))
        templates = None
        if "memory" in sections or "escalation" in sections:
            mem, templates = memory(args.memory_minutes)
            if "memory" in sections:
                results["memory"] = report("memory", mem)
        if "escalation" in sections:
            results["escalation"] = report("escalation", escalation(stack, workdir, templates, args.records,
                                                                   args.alerts, args.escalation_batch))
        if "latency" in sections:
            half = args.half_load or results.get("batched", {}).get("worker_events_per_s", 0) / 2
            if not half:
                raise SystemExit("--only latency needs --half-load EVENTS_PER_S")
            results["latency"] = report("latency", latency(stack, workdir, half, args.live_s))
        if "scaling" in sections:
            results["scaling"] = scaling(stack, workdir, pool, args.events, args.scaling_pairs)
        if "replay" in sections:
            results["replay"] = report("replay", replay_speed(args.replay_minutes, args.profile))
        redis.Redis.from_url(stack[1]).flushdb()  # the benchmark's own database (BENCH_REDIS_DB)
    results["total_s"] = round(time.perf_counter() - started, 1)
    print()
    print(table(results))
    print(f"\n{os.cpu_count()} CPUs, whole run {results['total_s']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def report(name: str, result: dict) -> dict:
    print(f"{name}: {json.dumps(result)}", flush=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
