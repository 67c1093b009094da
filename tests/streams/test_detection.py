"""The worker's detection side without Kafka: one pipeline per partition, silence noticed when traffic stops,
and state handed over through the store when partitions are revoked."""
from __future__ import annotations

import orjson

from inferwatch.detectors.state import InMemoryStateStore
from inferwatch.streams.config import Settings
from inferwatch.streams.detection import DetectionService
from inferwatch.streams.simulate import START_NS, generate

NS = 10**9


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(service: DetectionService, events: list[dict], partition: int = 0) -> list[dict]:
    return [r for e in events for r in service.handle(orjson.dumps(e), partition).anomalies]


def test_each_partition_keeps_its_own_event_time():
    service = DetectionService(Settings(), store=None)
    early = list(generate(1, START_NS, 60, 5, []))
    late = list(generate(1, START_NS + 3600 * NS, 60, 5, []))
    feed(service, early, partition=0)
    feed(service, late, partition=1)
    assert service.pipelines[0].watermark_ns < START_NS + 61 * NS < service.pipelines[1].watermark_ns


def test_silence_is_detected_when_a_partition_stops_receiving_events():
    clock = Clock()
    service = DetectionService(Settings(), store=None, clock=clock, idle_after_s=30)
    feed(service, list(generate(2, START_NS, 1800, 10, [])))
    assert service.advance_if_idle() == [], "not idle yet"
    clock.now += 600  # ten minutes of wall time without a single event
    silent = [r for r in service.advance_if_idle() if r["status"] == "firing"]
    assert silent and all(r["kind"] == "throughput" and r["value"] < r["expected"] for r in silent)


def test_revoked_partitions_are_checkpointed_and_forgotten():
    store = InMemoryStateStore()
    service = DetectionService(Settings(), store=store)
    feed(service, list(generate(3, START_NS, 600, 5, [])), partition=2)
    service.hand_over([2])
    assert 2 not in service.pipelines
    assert store.items, "the series' state is in the store for the partition's next owner"
    assert service.checkpoint() == 0, "nothing is left to checkpoint"


def test_a_partition_assigned_back_in_a_rebalance_carries_on_with_its_pipeline():
    """In a rebalance every partition is revoked; the ones this worker gets back were consumed by nobody else
    meanwhile, so their pipeline (watermark, every series) carries on instead of reloading lazily from the store."""
    service = DetectionService(Settings(), store=InMemoryStateStore())
    for partition in (1, 2):
        feed(service, list(generate(partition, START_NS, 600, 5, [])), partition=partition)
    kept = service.pipelines[1]
    service.hand_over([1, 2])
    assert not service.pipelines
    service.resume([1, 3])
    assert service.pipelines == {1: kept}, "partition 2 went to another worker: its state is the store's"
