"""``AlertingService.ingest_many``: a worker's batch of anomaly records in one round trip, with every promise of
``ingest`` (dedup by event time, invalid records dropped alone, a Redis outage raised for a retry)."""
from __future__ import annotations

import pytest
import redis

from inferwatch.alerting.store import INGEST_LUA
from tests.alerting.conftest import T0, anomaly, two_level_settings

FP = "fp-latency-checkout"


def evalsha_calls(client: redis.Redis) -> int:
    return client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)


def outcomes(service) -> dict[str, float]:
    return {s.labels["outcome"]: s.value for m in service.metrics.registry.collect() for s in m.samples
            if s.name == "inferwatch_alerting_records_total"}


def test_a_batch_is_one_round_trip_and_applies_like_one_record_at_a_time(make_service, redis_client):
    batched, single = make_service(), make_service(two_level_settings(key_prefix="one-at-a-time:"))
    records = [anomaly(i, fingerprint=f"fp-{i % 30}", severity="critical" if i == 100 else "warning")
               for i in range(300)]
    records += records[:50]  # redelivered: duplicates
    redis_client.script_load(INGEST_LUA)  # as after the first call of any process: what follows is the steady state
    redis_client.config_resetstat()
    batched.ingest_many(records, now=T0)
    assert evalsha_calls(redis_client) == 1
    for record in records:
        single.ingest(record, now=T0)
    for i in range(30):
        assert batched.store.load(f"fp-{i}") == single.store.load(f"fp-{i}")
        assert batched.store.records(f"fp-{i}") == single.store.records(f"fp-{i}")
    assert batched.store.load("fp-10").severity == "critical"
    assert outcomes(batched) == outcomes(single) == {"opened": 30, "updated": 269, "changed": 1, "duplicate": 50}


def test_an_invalid_record_is_dropped_alone(make_service, caplog):
    service = make_service()
    service.ingest_many([anomaly(0), {"fingerprint": FP}, anomaly(1)], now=T0)
    assert service.store.load(FP).count == 2
    assert service.metrics.registry.get_sample_value("inferwatch_alerting_errors_total",
                                                     {"reason": "invalid_record"}) == 1
    assert "time_unix_nano" in caplog.text


def test_a_redis_outage_raises_once_for_the_batch_and_the_retry_applies_it_once(make_service):
    service = make_service()
    port = service.redis.connection_pool.connection_kwargs["port"]
    service.redis.connection_pool.disconnect()
    service.redis.connection_pool.connection_kwargs.update(port=1)  # nothing listens there
    batch = [anomaly(i) for i in range(10)]
    with pytest.raises(redis.ConnectionError):  # the consumer retries the batch instead of committing past it
        service.ingest_many(batch, now=T0)
    assert service.metrics.registry.get_sample_value("inferwatch_alerting_errors_total",
                                                     {"reason": "ingest:ConnectionError"}) == 1
    service.redis.connection_pool.connection_kwargs.update(port=port)  # Redis is back
    service.redis.connection_pool.reset()
    service.ingest_many(batch, now=T0)
    service.ingest_many(batch, now=T0 + 1)  # the retry of a batch that did get through: duplicates
    assert service.store.load(FP).count == 10
    assert outcomes(service) == {"opened": 1, "updated": 9, "duplicate": 10}
