"""The series decides the partition: telemetry keyed by trace id, unkeyed, or in batches mixing services, read by two
workers in one consumer group from a 4-partition topic, gives the anomaly records ``inferwatch replay`` gives."""
from __future__ import annotations

import time
import urllib.request
from collections import defaultdict

import orjson
import pytest
import yaml
from confluent_kafka import ConsumerGroupState, Producer
from confluent_kafka.admin import AdminClient

from inferwatch.streams.config import load_settings
from inferwatch.streams.republish import by_service_topic, partition_for
from inferwatch.streams.topics import ensure_topics
from tests.conftest import free_port
from tests.streams.conftest import committed_total, decode_records, events_handled, read_all, sample
from tests.streams.test_online_offline import inferwatch

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
PARTITIONS = 4
#: events are produced a window of event time at a time, each window through detection before the next is produced:
#: events of one service re-published by two workers then arrive at most this far out of order, which the allowed
#: lateness absorbs, so the outcome does not depend on which worker runs ahead
WINDOW_S = 300
LATENESS_S = WINDOW_S
MIXED_BATCH = 16
#: incidents on model series and one tenant's surge, which a tenant series split over workers would misjudge
INCIDENTS = ["latency_spike@2400+600", "error_burst@4200+400", "traffic_surge@5400+600:app.tenant.id=tenant-003"]


def messages(events: list[dict]) -> list[tuple[bytes | None, bytes]]:
    """The three ways of keying that are not ours, in turns, in the events' order: one event keyed by its trace id,
    one unkeyed, then a batch of the next events (several services) keyed by the first one's model."""
    out: list[tuple[bytes | None, bytes]] = []
    i = 0
    while i < len(events):
        turn = len(out) % 3
        if turn == 0:
            out.append((events[i]["trace_id"].encode(), orjson.dumps(events[i])))
            i += 1
        elif turn == 1:
            out.append((None, orjson.dumps(events[i])))
            i += 1
        else:
            batch = events[i:i + MIXED_BATCH]
            out.append((batch[0]["gen_ai.request.model"].encode(), orjson.dumps(batch)))
            i += MIXED_BATCH
    return out


def wait_for_group(bootstrap: str, group: str, members: int, timeout_s: float = 120.0) -> None:
    """Until the group is stable with ``members`` members, each holding partitions (no rebalance mid-test)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        [future] = admin.describe_consumer_groups([group]).values()
        try:
            description = future.result(10)
        except Exception:
            description = None
        if (description is not None and description.state == ConsumerGroupState.STABLE
                and len(description.members) == members
                and all(m.assignment and m.assignment.topic_partitions for m in description.members)):
            return
        time.sleep(0.5)
    raise AssertionError(f"consumer group {group} did not become stable with {members} members")


def firing_view(records: list[dict], until_ns: int) -> list[tuple]:
    """What an on-call sees of the records: which series and signal, opened/resolved when (scores aside: floats
    summed in another order within a bucket may differ in the last digit)."""
    return sorted((r["fingerprint"], r["status"], r["time_unix_nano"], r["episode_started_unix_nano"])
                  for r in records if r["time_unix_nano"] <= until_ns)


@pytest.mark.timeout(1200)  # 24 windows, each through detection before the next is produced
def test_two_workers_on_four_partitions_give_replays_records(tmp_path, pipeline_config, workers):
    config = yaml.safe_load(pipeline_config.read_text())
    config["kafka"]["partitions"] = PARTITIONS
    config["detectors"] = {"allowed_lateness_s": LATENESS_S}
    pipeline_config.write_text(yaml.safe_dump(config))
    settings = load_settings(pipeline_config, env={})
    kafka = settings.kafka

    events_file = tmp_path / "events.jsonl"
    incidents = [arg for spec in INCIDENTS for arg in ("--incident", spec)]
    inferwatch(pipeline_config, "simulate", "--seed", "11", "--duration", "2h", "--rate", "4", "--day-length", "0",
               *incidents, "--out", str(events_file))
    events = [orjson.loads(line) for line in events_file.read_bytes().splitlines() if line.strip()]
    offline = [orjson.loads(line) for line in inferwatch(pipeline_config, "replay", str(events_file),
                                                         "--quiet").splitlines()]
    assert any("app.tenant.id" in r["labels"] for r in offline), "tenant series fire offline: the test covers them"

    ensure_topics(kafka)
    ports = [free_port(), free_port()]
    for port in ports:
        workers("detect", "--metrics-port", str(port))
    wait_for_group(kafka.bootstrap, kafka.group_id, members=2)

    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    start_ns, detected = events[0]["time_unix_nano"], 0
    windows: dict[int, list[dict]] = defaultdict(list)
    for event in events:
        windows[(event["time_unix_nano"] - start_ns) // (WINDOW_S * 10**9)].append(event)
    for window in sorted(windows):
        for key, value in messages(windows[window]):
            producer.produce(kafka.telemetry_topic, key=key, value=value)
        producer.flush(30)
        detected += len(windows[window])
        deadline = time.monotonic() + 120
        while sum(events_handled(port) for port in ports) < detected:
            assert time.monotonic() < deadline, f"window {window} of {len(windows)} did not go through detection"
            time.sleep(0.05)

    by_service = read_all(kafka.bootstrap, by_service_topic(kafka.telemetry_topic))
    deadline = time.monotonic() + 120
    while committed_total(kafka.bootstrap, kafka.group_id, by_service_topic(kafka.telemetry_topic),
                          PARTITIONS) < len(by_service):
        assert time.monotonic() < deadline, "the re-published events were not consumed"
        time.sleep(0.2)

    last_ns = events[-1]["time_unix_nano"]
    online = decode_records(read_all(kafka.bootstrap, kafka.anomalies_topic))
    # the last buckets close differently (one watermark per partition online, and the idle watermark), so compare
    # what closed well before the end of the file
    until_ns = last_ns - 2 * (LATENESS_S + settings.detectors.bucket_s) * 10**9
    assert firing_view(online, until_ns) == firing_view(offline, until_ns)
    assert any("app.tenant.id" in r["labels"] for r in online if r["time_unix_nano"] <= until_ns)

    partitions_of = defaultdict(set)
    for message in by_service:
        partitions_of[message.key()].add(message.partition())
    services = {e["service.name"].encode() for e in events}
    assert set(partitions_of) == services
    assert all(partitions_of[s] == {partition_for(s, PARTITIONS)} for s in services), "each service, one partition"
    assert sum(len(orjson.loads(m.value())) for m in by_service) == len(events), "every event re-published once"

    processed = []
    for port in ports:
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        processed.append(sample(metrics, "inferwatch_events_total"))
        assert sample(metrics, "inferwatch_messages_repartitioned_total") > 0, "both workers re-partitioned"
    assert sum(processed) == len(events), "no event lost or doubled"
