"""The regime matrix's generator and page counting (scripts/regimes): small streams, a few seconds each."""
from __future__ import annotations

import doctest
import statistics
from collections import Counter

import pytest

from inferwatch.alerting.config import AlertingSettings
from scripts.regimes import cells, effects, generator, scoring, truth
from scripts.regimes.cells import Cell
from scripts.regimes.generator import MAX_LATE_S, MAX_SKEW_S, NS, generate, plan, series_labels
from scripts.regimes.pages import Escalation
from scripts.regimes.truth import KINDS
from inferwatch.streams.schema import validate_event

TEN_MINUTES = 600.0


def calls(events: list[dict]) -> list[dict]:
    return [e for e in events if e.get("event.kind", "llm_call") == "llm_call"]


@pytest.mark.parametrize("rate", [0.5, 5.0, 50.0])
def test_each_series_gets_the_cells_rate(rate):
    cell = Cell("t", rate, duration_s={0.5: 7200.0, 5.0: TEN_MINUTES, 50.0: 120.0}[rate])
    run = plan(cell, seed=4, incidents=False)
    per_service = Counter(e["service.name"] for e in calls(list(generate(run))))
    expected = rate * cell.timing.duration_s
    assert set(per_service) == {s.name for s in run.services}
    for count in per_service.values():
        assert abs(count - expected) < 4 * expected ** 0.5 + 1


def test_every_event_passes_the_schema():
    for event in generate(plan(Cell("t", 5.0, latency="bimodal", duration_s=120.0), seed=2, incidents=False)):
        validate_event(event)


def test_thousand_tenants_are_zipf_distributed():
    run = plan(Cell("t", 50.0, regime="tenants1000", tenants=1000, duration_s=120.0), seed=3, incidents=False)
    tenants = Counter(e["app.tenant.id"] for e in calls(list(generate(run))))
    ranked = [count for _, count in tenants.most_common()]
    assert len(tenants) > 500  # a long tail of small tenants
    assert tenants.most_common(1)[0][0] == "org-0001"
    assert 1.6 < ranked[0] / ranked[1] < 2.8  # Zipf s=1.1: the top tenant ~2.1x the second
    assert ranked[0] > 50 * statistics.median(ranked)


def test_at_least_once_delivery_duplicates_ids_and_disorders_time():
    run = plan(Cell("t", 10.0, regime="delivery", duration_s=300.0), seed=5, incidents=False)
    events = list(generate(run))
    by_id: dict[str, list[dict]] = {}
    for event in events:
        by_id.setdefault(event["event.id"], []).append(event)
    copies = Counter(len(v) for v in by_id.values())
    assert set(copies) == {1, 2, 3}
    assert 0.03 < (copies[2] + copies[3]) / len(by_id) < 0.07
    assert all(all(e == group[0] for e in group) for group in by_id.values())  # same event, same id
    times = [e["time_unix_nano"] for e in events]
    assert times != sorted(times)
    newest, behind = 0, 0
    for t in times:
        newest = max(newest, t)
        behind = max(behind, (newest - t) / NS)
    assert 60.0 < behind < 2 * MAX_SKEW_S + MAX_LATE_S + 60


def test_incidents_are_labelled_and_move_their_series():
    cell = Cell("t", 5.0)
    run = plan(cell, seed=len(KINDS), incidents=True)  # this seed puts the latency spike first
    assert {i.kind for i in run.incidents} == set(KINDS)  # the 5/s cells fit one of every kind
    assert all(i.end_s <= cell.timing.duration_s for i in run.incidents)
    assert plan(cell, seed=len(KINDS), incidents=False).incidents == []
    spike = next(i for i in run.incidents if i.kind == "latency_spike")
    assert spike.start_s == cell.timing.warmup_s
    service = next(s for s in run.services if series_labels(s) == spike.labels)
    inside, before = [], []
    start_ns = run.start_ns
    for event in generate(run):
        t = (event["time_unix_nano"] - start_ns) / NS
        if t > spike.end_s + 60:
            break
        if event["service.name"] != service.name or event.get("event.kind") or event.get("error.type"):
            continue
        if spike.start_s <= t < spike.end_s:
            inside.append(event["app.stage.inference.duration"])
        elif spike.start_s - 600 <= t < spike.start_s:
            before.append(event["app.stage.inference.duration"])
    assert 2.5 < statistics.median(inside) / statistics.median(before) < 3.5


def record(fingerprint: str, t_s: float, service: str = "svc") -> dict:
    return {"time_unix_nano": int(t_s * NS), "kind": "threshold", "signal": "gen_ai.client.operation.duration",
            "labels": {"service.name": service, "gen_ai.request.model": "m"}, "value": 4.0, "expected": 1.0,
            "score": 0.99999, "severity": "critical", "detector": "adaptive_threshold", "fingerprint": fingerprint,
            "exemplars": [], "status": "firing"}


def test_pages_count_new_channel_posts_and_new_pagerduty_incidents(redis_url):
    """Two related alerts on one service for 15 minutes, nobody acknowledging, then quiet, then one again:
    one channel post + one thread reply, two PagerDuty incidents at the ack timeout, and a new episode later."""
    t0 = 1_900_000_000.0
    escalation = Escalation(AlertingSettings(), redis_url, key_prefix="test-regimes:")
    try:
        for t in range(0, 900, 60):
            escalation.ingest(record("a", t0 + t), t0 + t)
            escalation.ingest(record("b", t0 + t + 1, ), t0 + t + 1)
        escalation.advance(t0 + 3600)  # quiet: both resolve
        escalation.ingest(record("a", t0 + 4000), t0 + 4000)
        escalation.advance(t0 + 4100)
        top = escalation.top_pages()
        assert [(p.target, p.fingerprint) for p in top] == [
            ("slack", "a"), ("pagerduty", "a"), ("pagerduty", "b"), ("slack", "a")]
        assert escalation.thread_replies == 1
    finally:
        escalation.close()


@pytest.mark.parametrize("module", [cells, effects, generator, scoring, truth])
def test_docstring_examples(module):
    """The examples in scripts/regimes (outside the doctest paths of pytest.ini) run here."""
    result = doctest.testmod(module)
    assert result.attempted and not result.failed


GOOD_CELL = {"rate": 5.0, "clean_false_pages_per_hour_per_service": 0.05, "detected_pages": 11, "incidents_total": 11,
             "median_page_delay_sudden_s": 45.0, "false_pages_per_hour_per_service_with_incidents": 0.2}


@pytest.mark.parametrize("change, missed", [
    ({}, []),
    ({"clean_false_pages_per_hour_per_service": 0.2}, ["clean pages"]),
    ({"detected_pages": 10}, ["missed incidents"]),
    ({"median_page_delay_sudden_s": 90.0}, ["delay"]),
    ({"median_page_delay_sudden_s": 90.0, "rate": 0.5}, []),  # thin series may take longer
    ({"false_pages_per_hour_per_service_with_incidents": 0.6}, ["pages with incidents"]),
])
def test_cells_are_checked_against_issue_7_targets(change, missed):
    from scripts.regime_matrix import misses
    assert misses({**GOOD_CELL, **change}) == missed
