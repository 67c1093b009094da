"""Extra key sets: tenant (and route...) series beside the model series, on streams with known answers."""
from __future__ import annotations

import dataclasses
import json

import pytest

from inferwatch.detectors.config import DetectorSettings, SloSettings
from inferwatch.detectors import checkpoint
from inferwatch.detectors.engine import STATE_VERSION, DetectionEngine
from inferwatch.detectors.incidents import parse_incident
from inferwatch.detectors.state import InMemoryStateStore
from inferwatch.streams.config import ConfigError, settings_from_mapping
from inferwatch.streams.simulate import START_NS, generate

NS = 10**9
ENV = "deployment.environment.name"
SURGE = parse_incident("traffic_surge@25m+6m:app.tenant.id=tenant-007")
SPIKE = parse_incident("latency_spike@25m+5m:service.name=support-bot,gen_ai.request.model=gpt-4o")


def run(engine, events):
    return [r for e in events for r in engine.process(e)]


def firing(records, signal=None):
    return [r for r in records if r["status"] == "firing" and signal in (None, r["signal"])]


@pytest.fixture(scope="module")
def surge_events():
    return list(generate(seed=5, start_ns=START_NS, duration_s=2400, rate_per_s=15, incidents=[SURGE]))


@pytest.fixture(scope="module")
def surge_firing(surge_events):
    """What the engine with the default settings fires on the surge (run once: several tests read it)."""
    return firing(run(DetectionEngine(DetectorSettings()), surge_events))


def test_a_tenant_surge_across_services_pages_once_per_service_on_the_tenant_series(surge_firing):
    records = [r for r in surge_firing if r["signal"] == "request.rate"]
    tenant = [r for r in records if "app.tenant.id" in r["labels"]]
    assert {r["labels"]["service.name"] for r in tenant} == {"support-bot", "search-summarizer", "code-assistant"}
    assert all(r["labels"] == {"service.name": r["labels"]["service.name"], "deployment.environment.name": "prod",
                               "app.tenant.id": "tenant-007"} for r in tenant)
    for r in tenant:
        delay_s = (r["time_unix_nano"] - START_NS) / NS - SURGE.start_s
        assert 0 < delay_s < 120 and r["value"] > 3 * r["expected"]
    assert len({r["fingerprint"] for r in tenant}) == 3
    assert not {r["fingerprint"] for r in tenant} & {r["fingerprint"] for r in records if r not in tenant}


def test_without_extra_key_sets_the_same_surge_is_not_seen_per_tenant(surge_events):
    settings = DetectorSettings(extra_series_keys=[])
    records = firing(run(DetectionEngine(settings), surge_events), "request.rate")
    assert not [r for r in records if "app.tenant.id" in r["labels"]]


def test_an_event_joins_an_extra_series_only_when_it_has_every_field():
    events = list(generate(seed=6, start_ns=START_NS, duration_s=120, rate_per_s=5, incidents=[]))
    engine = DetectionEngine(DetectorSettings(extra_series_keys=[["service.name", "app.tenant.id"],
                                                                 ["service.name", "app.user.id"]]))
    run(engine, [{k: v for k, v in e.items() if k != "app.tenant.id"} if i % 2 else e for i, e in enumerate(events)])
    calls = [e for i, e in enumerate(events) if not i % 2 and e["event.kind"] == "llm_call"]
    tenants = {(e["service.name"], e["app.tenant.id"]) for e in calls}
    models = {(e["service.name"], e["gen_ai.provider.name"], e["gen_ai.request.model"]) for e in events}
    assert engine.series_count() == len(models) + len(tenants)  # no app.user.id anywhere: no user series


def test_extra_series_fire_at_their_own_stricter_score(surge_events):
    strict = DetectorSettings(extra_series_fire_score=1.0 + 1e-9)  # nothing reaches it
    records = firing(run(DetectionEngine(strict), surge_events), "request.rate")
    assert not [r for r in records if "app.tenant.id" in r["labels"]]


def restarted(events: list[dict], at_s: float, store: InMemoryStateStore) -> list[dict]:
    """Records of an engine stopped at ``at_s`` (after a checkpoint into ``store``) and another restored from it."""
    split = next(i for i, e in enumerate(events) if e["time_unix_nano"] >= START_NS + at_s * NS)
    first = DetectionEngine(DetectorSettings(), store)
    before = run(first, events[:split])
    first.checkpoint()
    return before + run(DetectionEngine(DetectorSettings(), store), events[split:])


def test_tenant_series_survive_a_restart_from_their_checkpoints(surge_events, surge_firing):
    store = InMemoryStateStore()
    records = restarted(surge_events, 1200, store)
    assert any(key.startswith('{"service.name":') for key in store.items), "tenant series are checkpointed"
    assert firing(records) == surge_firing


def test_a_checkpoint_of_another_state_version_is_not_restored(surge_events):
    store = InMemoryStateStore()
    first = DetectionEngine(DetectorSettings(), store)
    run(first, surge_events[:3000])
    first.checkpoint()
    key = '["support-bot","prod","openai","gpt-4o"]'
    valid = dict(store.items)
    series = checkpoint.decode(store.items[key], STATE_VERSION)
    store.items[key] = checkpoint.encode(series, STATE_VERSION - 1, 6)  # what a version of other fields wrote

    def ring_after_restart(items):
        engine = DetectionEngine(DetectorSettings(), InMemoryStateStore())
        engine.store.items.update(items)
        run(engine, surge_events[3000:3100])
        return next(s.ring for s in engine._series.values() if s.key == key)
    assert len(ring_after_restart(valid)) == DetectorSettings().long_window_buckets
    assert len(ring_after_restart(store.items)) <= 1, "started afresh, not misread"


@pytest.mark.parametrize("section, message", [
    ({"extra_series_keys": [["app.tenant.id"]]}, "extra_series_keys[0]: must include service.name"),
    ({"extra_series_keys": [["service.name", "app.route"], ["service.name", "app.route"]]},
     "extra_series_keys[1]: ['service.name', 'app.route'] repeats"),
    ({"extra_series_signals": ["latncy"]}, "detectors.extra_series_signals: unknown signal 'latncy'"),
    ({"extra_series_signals": ["ttfc"]}, "detectors.extra_series_signals: 'ttfc' needs more than call-level sums"),
])
def test_bad_extra_series_settings_name_the_field(section, message):
    with pytest.raises((ConfigError, ValueError)) as raised:
        DetectionEngine(settings_from_mapping({"detectors": section}).detectors)
    assert message in str(raised.value)


def test_extra_key_sets_are_settings_like_any_other():
    loaded = settings_from_mapping({"detectors": {"extra_series_keys": [["service.name", "app.route"]],
                                                  "extra_series_signals": ["errors"]}}).detectors
    assert loaded == dataclasses.replace(DetectorSettings(), extra_series_keys=[["service.name", "app.route"]],
                                         extra_series_signals=["errors"])


def test_a_series_checkpointed_in_the_middle_of_a_silence_carries_on_after_a_restart():
    """Silent buckets are one shared empty bucket; restored from a checkpoint they must still read as empty."""
    stall = parse_incident("traffic_stall@20m+8m:service.name=code-assistant,gen_ai.request.model=claude-opus-4")
    events = list(generate(seed=7, start_ns=START_NS, duration_s=2400, rate_per_s=10, incidents=[stall]))
    uninterrupted = firing(run(DetectionEngine(DetectorSettings()), events))
    assert firing(restarted(events, 1500, InMemoryStateStore())) == uninterrupted
    assert [r["labels"]["gen_ai.request.model"] for r in uninterrupted if r["signal"] == "request.rate"] == \
        ["claude-opus-4"]


def in_environment(events, environment: str | None, prefix: str) -> list[dict]:
    """``events`` moved to another environment (None: without one), with event ids of their own."""
    moved = [{k: v for k, v in e.items() if k != ENV} for e in events]
    return [{**e, "event.id": prefix + e["event.id"], **({ENV: environment} if environment else {})} for e in moved]


@pytest.fixture(scope="module")
def staging_spike():
    """Prod traffic, healthy, and the same services' staging traffic (another seed), slow on support-bot/gpt-4o."""
    prod = generate(seed=3, start_ns=START_NS, duration_s=2400, rate_per_s=15, incidents=[])
    staging = generate(seed=4, start_ns=START_NS, duration_s=2400, rate_per_s=15, incidents=[SPIKE])
    return sorted([*prod, *in_environment(staging, "staging", "stg-")], key=lambda e: e["time_unix_nano"])


@pytest.fixture(scope="module")
def staging_firing(staging_spike):
    """What the engine with the default settings fires on ``staging_spike`` (run once: several tests read it)."""
    return firing(run(DetectionEngine(DetectorSettings()), staging_spike))


def test_a_latency_incident_in_staging_pages_staging_and_leaves_prod_quiet(staging_firing):
    records = staging_firing
    assert [r["labels"] for r in records if r["signal"] == "gen_ai.client.operation.duration"] == [
        {"service.name": "support-bot", ENV: "staging", "gen_ai.provider.name": "openai",
         "gen_ai.request.model": "gpt-4o"}]
    assert not [r for r in records if r["labels"].get(ENV) == "prod"], "prod was healthy throughout"


def test_a_model_series_already_firing_keeps_its_tenants_quiet(staging_firing):
    """One slow model must page once, not once more per tenant that happens to call it (staging's support-bot
    tenants all call the slow gpt-4o)."""
    latency = [r for r in staging_firing if r["signal"] == "gen_ai.client.operation.duration"]
    assert [r["labels"]["gen_ai.request.model"] for r in latency] == ["gpt-4o"]


def test_with_the_environment_field_off_staging_pages_as_the_shared_series(staging_spike):
    records = firing(run(DetectionEngine(DetectorSettings(environment_field="")), staging_spike))
    latency = [r["labels"] for r in records if r["signal"] == "gen_ai.client.operation.duration"]
    assert latency == [{"service.name": "support-bot", "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4o"}], "one series for both: the spike is half its calls"


def test_a_slo_is_cut_by_environment_and_its_selector_still_picks_events(staging_spike):
    """Windows of 10 and 2 minutes, so a 5-minute incident can burn 14.4 times the budget."""
    latency = {"indicator": "latency", "threshold": 5.0, "objective": 0.99, "fast_long_s": 600, "fast_short_s": 120}
    gpt4o = {"service.name": "support-bot", "gen_ai.request.model": "gpt-4o"}
    everywhere = SloSettings(name="all", selector=gpt4o, **latency)
    prod_only = SloSettings(name="prod", selector={**gpt4o, ENV: "prod"}, **latency)
    records = firing(run(DetectionEngine(DetectorSettings(enabled=["latency"], slos=[everywhere, prod_only])),
                         staging_spike))
    slo = {(r["signal"], tuple(r["labels"].items())) for r in records if r["kind"] == "slo_burn"}
    assert slo == {("slo.all", (("service.name", "support-bot"), (ENV, "staging")))}


def test_events_without_an_environment_still_form_their_series_without_the_label():
    events = in_environment(generate(seed=6, start_ns=START_NS, duration_s=120, rate_per_s=5, incidents=[]), None, "")
    store = InMemoryStateStore()
    engine = DetectionEngine(DetectorSettings(), store)
    run(engine, events)
    engine.checkpoint()
    calls = [e for e in events if e["event.kind"] == "llm_call"]
    models = {(e["service.name"], e["gen_ai.provider.name"], e["gen_ai.request.model"]) for e in events}
    tenants = {(e["service.name"], e["app.tenant.id"]) for e in calls}
    assert engine.series_count() == len(models) + len(tenants)
    assert not [s for s in engine._series.values() if ENV in s.labels]
    # the store keys such series had before the environment joined the key: their checkpoints are still found
    assert {json.dumps(list(m), separators=(",", ":")) for m in models} | \
        {json.dumps({"service.name": s, "app.tenant.id": t}, separators=(",", ":")) for s, t in tenants} == \
        set(store.items)
