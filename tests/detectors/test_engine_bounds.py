"""The engine's bounds and its robustness to bad state (issue 8): series caps with one ``series.cap`` record, state
restored from the future repaired, and a store that fails never stopping detection nor losing state."""
from __future__ import annotations


import pytest

from inferwatch.detectors.cardinality import OTHER
from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.engine import DetectionEngine, restore_series
from inferwatch.detectors.incidents import parse_incident
from inferwatch.detectors.state import InMemoryStateStore
from inferwatch.streams.simulate import START_NS, generate

NS = 10**9
SPIKE = parse_incident("latency_spike@30m+5m:service.name=support-bot,gen_ai.request.model=gpt-4o")
TENANT_KEY = "service.name,deployment.environment.name,app.tenant.id"


@pytest.fixture(scope="module")
def events():
    return list(generate(seed=3, start_ns=START_NS, duration_s=3000, rate_per_s=15, incidents=[SPIKE]))


@pytest.fixture(scope="module")
def calls():
    return [e for e in generate(seed=4, start_ns=START_NS, duration_s=1200, rate_per_s=8, incidents=[])
            if e["event.kind"] == "llm_call"]


def run(engine, events):
    return [r for e in events for r in engine.process(e)]


def cap_records(records):
    return [r for r in records if (r["kind"], r["signal"]) == ("cardinality", "series.cap")]


CAP = DetectorSettings().max_extra_series_per_service


def tenant_series(store):
    return [key for key in store.items if '"app.tenant.id"' in key]


def test_a_request_id_sent_as_tenant_folds_into_one_other_series_per_service_with_one_record(calls):
    """Defaults: CAP tenant series per service; every call of the flood carries a tenant id never seen before."""
    flood = [{**e, "app.tenant.id": f"req-{i}"} for i, e in enumerate(calls)]
    per_service = {s: sum(e["service.name"] == s for e in flood) for s in {e["service.name"] for e in flood}}
    capped = {s for s, n in per_service.items() if n > CAP}
    assert capped, "the flood must exceed the default cap on some service"
    store = InMemoryStateStore()
    engine = DetectionEngine(DetectorSettings(enabled=["errors"]), store)
    records = run(engine, flood)
    engine.checkpoint()

    assert len(tenant_series(store)) == sum(min(n, CAP) for n in per_service.values()) + len(capped)
    for service in capped:
        assert f'{{"service.name":"{service}","deployment.environment.name":"{OTHER}","app.tenant.id":"{OTHER}"}}' \
            in store.items
    alerts = cap_records(records)
    assert sorted(r["labels"]["service.name"] for r in alerts) == sorted(capped)
    assert all(r["labels"]["series.key"] == TENANT_KEY and r["status"] == "firing" and r["value"] == CAP
               for r in alerts)
    assert engine.counts["series_overflow_events"] == sum(n - CAP for n in per_service.values() if n > CAP)


def test_distinct_service_names_beyond_the_cap_fold_into_one_other_service(calls):
    flood = [{**e, "service.name": f"svc-{i}"} for i, e in enumerate(calls[:60])]
    engine = DetectionEngine(DetectorSettings(enabled=["errors"], max_services=40))
    records = run(engine, flood)
    assert engine.series_count() == 40 * 2 + 2, "per admitted service one model and one tenant series, + overflow"
    assert [r["labels"] for r in cap_records(records)] == [{"service.name": OTHER, "series.key": "service.name"}]
    assert engine.counts["series_overflow_events"] == 20 * 2


def test_memory_stays_bounded_however_many_distinct_tenants_arrive(calls):
    settings = DetectorSettings(enabled=["errors"], max_extra_series_per_service=10)
    engine = DetectionEngine(settings)
    for round_ in range(5):
        run(engine, [{**e, "app.tenant.id": f"r{round_}-{i}"} for i, e in enumerate(calls[:1000])])
        assert engine.series_count() <= 6 + 3 * (10 + 1)


def test_a_slot_freed_by_eviction_goes_to_the_next_new_series(calls):
    engine = DetectionEngine(DetectorSettings(enabled=["errors"], max_extra_series_per_service=2,
                                              idle_evict_s=60))
    chat = [e for e in calls if e["service.name"] == "support-bot"]
    run(engine, [{**e, "app.tenant.id": f"t{i}"} for i, e in enumerate(chat[:3])])
    assert len(cap_records(run(engine, [{**chat[3], "app.tenant.id": "t3"}]))) == 0, "one record per cap reached"
    later = {**chat[4], "app.tenant.id": "late", "time_unix_nano": chat[4]["time_unix_nano"] + 600 * NS}
    engine.process(later)  # the first three tenants and the overflow series were idle for 10 minutes: evicted
    assert engine.counts["series_overflow_events"] == 2, "'late' got a series of its own"


@pytest.mark.parametrize("future_s", [(4_070_908_800 - 1_767_225_600), 3600.0], ids=["year-2099", "one-hour-fast"])
def test_state_restored_from_a_checkpoint_written_after_a_future_event_repairs_itself(events, future_s):
    """A checkpoint written after one event from the future (the year 2099, or a producer's clock an hour fast) must
    not make the restarted engine drop every real event as a redelivery: the latency spike is still caught."""
    split = next(i for i, e in enumerate(events) if e["time_unix_nano"] >= START_NS + 1500 * NS)
    store = InMemoryStateStore()
    first = DetectionEngine(DetectorSettings(), store)
    run(first, events[:split])
    first.process({**events[split - 1], "time_unix_nano": events[split - 1]["time_unix_nano"] + int(future_s * NS)})
    first.checkpoint()

    wall_clock = lambda: START_NS / NS + 1500  # noqa: E731 - the time the restart happens
    restarted = DetectionEngine(DetectorSettings(), store, clock=wall_clock)
    after = [r for r in run(restarted, events[split:]) if r["signal"] == "gen_ai.client.operation.duration"]
    assert [r["status"] for r in after] == ["firing", "resolved"]
    assert after[0]["labels"]["gen_ai.request.model"] == "gpt-4o"
    assert restarted.counts["state_repaired"] >= 1


class FlakyStore(InMemoryStateStore):
    """An in-memory store that raises like an unreachable Redis while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def load(self, key: str) -> bytes | None:
        if self.down:
            raise ConnectionError("Error 111 connecting to localhost:6379. Connection refused.")
        return super().load(key)

    def save_many(self, items: dict[str, bytes]) -> None:
        if self.down:
            raise ConnectionError("Error 111 connecting to localhost:6379. Connection refused.")
        super().save_many(items)


def test_a_failed_checkpoint_forgets_nothing(events):
    store = FlakyStore()
    engine = DetectionEngine(DetectorSettings(), store)
    run(engine, events[:2000])
    store.down = True
    with pytest.raises(ConnectionError):
        engine.checkpoint()
    store.down = False
    assert engine.checkpoint() == engine.series_count() > 6, "every series changed since the last good save"


def test_evicted_series_survive_a_failed_checkpoint_and_a_return(events):
    """A series evicted while the store is down is saved by the next good checkpoint; one that comes back before that
    carries on from its own state, not from the older one in the store."""
    store = FlakyStore()
    engine = DetectionEngine(DetectorSettings(enabled=["errors"], idle_evict_s=120), store)
    run(engine, events[:3000])
    store.down = True
    gap = 300 * NS
    quiet = {**events[2999], "service.name": "other-svc", "time_unix_nano": events[2999]["time_unix_nano"] + gap}
    engine.process(quiet)
    engine.advance(quiet["time_unix_nano"] + 10 * NS)  # every simulated series is idle for 5 min: evicted
    back = {**events[3000], "time_unix_nano": quiet["time_unix_nano"] + 20 * NS}
    engine.process(back)  # its series returns while its state still waits for a checkpoint
    with pytest.raises(ConnectionError):
        engine.checkpoint()
    store.down = False
    engine.checkpoint()
    key = '["{}","{}","{}","{}"]'.format(back["service.name"], back["deployment.environment.name"],
                                         back["gen_ai.provider.name"], back["gen_ai.request.model"])
    series = restore_series(store.items[key])
    assert series.last_seen_ns == back["time_unix_nano"]
    assert "errors" in series.detectors, "its history before the eviction, not a fresh start"
    simulated = [key for key in tenant_series(store) if "other-svc" not in key]
    assert len(simulated) == len({(e["service.name"], e["app.tenant.id"]) for e in events[:3000]
                                  if e["event.kind"] == "llm_call"}), "every evicted tenant series was saved"


def test_a_checkpoint_that_cannot_be_loaded_starts_the_series_afresh(events):
    store = FlakyStore()
    first = DetectionEngine(DetectorSettings(enabled=["errors"]), store)
    run(first, events[:1000])
    first.checkpoint()
    store.down = True
    restarted = DetectionEngine(DetectorSettings(enabled=["errors"]), store)
    run(restarted, events[1000:2000])  # no exception escapes
    assert restarted.series_count() > 6
    assert restarted.counts["checkpoint_load_failed"] == restarted.series_count()
