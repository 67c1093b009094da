"""Redis going away under a running detection service (its own redis-server, stopped and started for real):
detection goes on, and once Redis is back the next checkpoint saves every series that changed meanwhile."""
from __future__ import annotations

import json

import orjson
import pytest
import redis

from inferwatch.detectors.engine import restore_series
from inferwatch.streams import metrics
from inferwatch.streams.checkpoints import KEY_PREFIX, RedisCheckpointStore, SignedBlobCodec
from inferwatch.streams.config import Settings
from inferwatch.streams.detection import DetectionService
from inferwatch.streams.simulate import START_NS, generate

NS = 10**9


def feed(service: DetectionService, events: list[dict], partition: int = 0) -> list[dict]:
    return [r for e in events for r in service.handle(orjson.dumps(e), partition).anomalies]


@pytest.mark.redis
def test_redis_down_stops_neither_detection_nor_checkpoints_for_good(new_stack):
    stack = new_stack(redis_persist="aof")
    stack.up("redis")
    client = redis.Redis.from_url(stack.redis_url, socket_timeout=5, socket_connect_timeout=5)
    service = DetectionService(Settings(), RedisCheckpointStore(client, SignedBlobCodec(b"k" * 32)))
    events = list(generate(seed=5, start_ns=START_NS, duration_s=1200, rate_per_s=10, incidents=[]))
    half = len(events) // 2
    feed(service, events[:half])
    saved = service.checkpoint()
    assert saved == service.pipelines[0].engine.series_count() > 6

    stack.down("redis")
    failures = metrics.CHECKPOINT_FAILURES.labels("interval")._value.get()
    loads_failed = metrics.ENGINE_GUARDS.labels("checkpoint_load_failed")._value.get()
    feed(service, events[half:])  # the series in memory carry on
    other_partition = [{**e, "service.name": "moved-" + e["service.name"]}  # services new to this worker
                       for e in generate(seed=6, start_ns=START_NS + 600 * NS, duration_s=120, rate_per_s=5,
                                         incidents=[])]
    feed(service, other_partition, partition=1)  # new series: their checkpoints cannot be loaded, they start afresh
    assert metrics.ENGINE_GUARDS.labels("checkpoint_load_failed")._value.get() > loads_failed
    assert service.checkpoint() == 0
    assert metrics.CHECKPOINT_FAILURES.labels("interval")._value.get() == failures + 2, "one per partition"

    stack.up("redis")
    assert service.checkpoint() > 0
    in_memory = sum(p.engine.series_count() for p in service.pipelines.values())
    assert len(client.keys(KEY_PREFIX + "*")) == in_memory, "the first save's series and every new one"
    last = events[-1]
    fields = ("service.name", "deployment.environment.name", "gen_ai.provider.name", "gen_ai.request.model")
    key = json.dumps([last[f] for f in fields], separators=(",", ":"))  # the model series' checkpoint key
    series = restore_series(service._store.load(key))
    assert series.last_seen_ns == max(e["time_unix_nano"] for e in events
                                      if all(e.get(f) == last[f] for f in fields)), \
        "its state as changed while Redis was down, not as of the first save"
