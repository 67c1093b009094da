"""The alert lifecycle on real Redis with in-memory notifiers and an injected clock (no sleeping)."""
from __future__ import annotations

import threading

import pytest
import redis

from inferwatch.alerting.config import FlappingSettings, InhibitSettings, LevelSettings, PolicySettings, TargetSettings
from inferwatch.alerting.notifiers import InMemoryNotifier, NotifierError

from tests.alerting.conftest import T0, anomaly, two_level_settings

FP = "fp-latency-checkout"


def state(service, fp=FP):
    return service.store.load(fp).state


def test_a_thousand_records_with_one_fingerprint_give_one_page(make_service):
    service = make_service()
    for i in range(1000):
        service.ingest(anomaly(i), now=T0 + i * 0.1)
        if i % 100 == 0:
            service.tick(T0 + i * 0.1)
    service.tick(T0 + 100)
    assert service.test_notifiers["slack"].actions() == [("send", "firing")]
    assert service.test_notifiers["pagerduty"].actions() == []
    assert service.store.load(FP).count == 1000


def test_redelivered_records_change_nothing(make_service):
    service = make_service()
    for i in range(5):
        service.ingest(anomaly(i), now=T0)
    before = (service.store.load(FP), service.redis.hgetall(service.store.key("seen", FP)))
    for i in range(5):  # Kafka at-least-once: the same records again, later in wall time
        service.ingest(anomaly(i), now=T0 + 30)
    after = (service.store.load(FP), service.redis.hgetall(service.store.key("seen", FP)))
    assert after == before
    assert service.metrics.registry.get_sample_value("inferwatch_alerting_records_total",
                                                     {"outcome": "duplicate"}) == 5


def test_escalates_to_pagerduty_after_the_level_timeout(make_service):
    service = make_service()
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    for t in range(1, 600, 60):  # still anomalous, nobody acknowledges
        service.ingest(anomaly(t), now=T0 + t)
        service.tick(T0 + t)
    assert service.test_notifiers["pagerduty"].actions() == []
    service.tick(T0 + 600)
    assert service.test_notifiers["pagerduty"].actions() == [("send", "escalated")]
    assert ("update", "escalated") in service.test_notifiers["slack"].actions()  # thread reply on the Slack message
    assert service.store.load(FP).level == 1


def test_acknowledgement_stops_escalation_and_stale_timers_do_nothing(make_service):
    service = make_service()
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    assert service.acknowledge(FP, "cli:alice", now=T0 + 60)
    for t in range(120, 1800, 120):
        service.ingest(anomaly(t), now=T0 + t)
        service.tick(T0 + t)
    assert service.test_notifiers["pagerduty"].actions() == []
    assert service.test_notifiers["slack"].actions() == [("send", "firing"), ("update", "acknowledged")]
    assert state(service) == "acknowledged"


def test_acknowledgement_expiry_fires_again_when_still_active(make_service):
    service = make_service(two_level_settings(ack_expiry_s=900))
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    service.acknowledge(FP, "slack:U1", now=T0 + 10)
    for t in range(60, 1000, 60):
        service.ingest(anomaly(t), now=T0 + t)
        service.tick(T0 + t)
    assert state(service) == "firing"
    slack = service.test_notifiers["slack"].actions()
    assert slack == [("send", "firing"), ("update", "acknowledged"), ("update", "refired")]
    assert service.test_notifiers["pagerduty"].actions() == []  # back at level 0, with a fresh timeout


def test_an_expired_acknowledgement_of_a_quiet_alert_resolves_instead(make_service):
    service = make_service(two_level_settings(ack_expiry_s=900, resolve_quiet_s=300))
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    service.acknowledge(FP, "slack:U1", now=T0 + 10)
    service.tick(T0 + 1000)
    assert state(service) == "resolved"
    assert service.test_notifiers["slack"].actions()[-1] == ("resolve", "resolved")


def test_auto_resolve_after_quiet_sends_resolve_to_every_paged_target_even_if_silenced(make_service):
    service = make_service(two_level_settings(resolve_quiet_s=900))
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    for t in range(60, 660, 60):
        service.ingest(anomaly(t), now=T0 + t)
        service.tick(T0 + t)
    assert service.test_notifiers["pagerduty"].actions() == [("send", "escalated")]
    service.silences.add({"service.name": "checkout"}, T0 + 700, T0 + 86400, "maintenance", "alice")
    service.tick(T0 + 700)
    service.tick(T0 + 600 + 899)
    assert state(service) != "resolved"
    service.tick(T0 + 600 + 900)
    assert state(service) == "resolved"
    assert service.test_notifiers["slack"].actions()[-1] == ("resolve", "resolved")
    assert service.test_notifiers["pagerduty"].actions()[-1] == ("resolve", "resolved")


def test_a_resolved_record_resolves_and_a_later_record_opens_a_new_episode(make_service):
    service = make_service()
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    service.ingest(anomaly(1, status="resolved"), now=T0 + 5)
    service.tick(T0 + 5)
    assert state(service) == "resolved"
    service.ingest(anomaly(2), now=T0 + 10)
    service.tick(T0 + 10)
    sends = [n for action, n in service.test_notifiers["slack"].calls if action == "send"]
    assert [n.alert.episode for n in sends] == [1, 2]
    assert sends[0].alert.dedup_key != sends[1].alert.dedup_key


def test_a_silence_suppresses_the_page_but_not_the_lifecycle(make_service):
    service = make_service()
    silence = service.silences.add({"service.name": "checkout", "kind": "=~threshold|rate"}, T0 - 1, T0 + 3600,
                                   "deploy", "alice")
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    assert state(service) == "firing"
    assert service.store.load(FP).muted_by == f"silence:{silence.id}"
    assert service.test_notifiers["slack"].calls == []
    other = anomaly(0, fingerprint="fp-search", labels={"service.name": "search"})
    service.ingest(other, now=T0)
    service.tick(T0)
    assert [n.alert.fingerprint for _, n in service.test_notifiers["slack"].calls] == ["fp-search"]
    # expiring the silence pages the still-active alert
    service.silences.expire(silence.id, T0 + 10)
    service.ingest(anomaly(10), now=T0 + 10)
    service.tick(T0 + 10)
    assert [n.alert.fingerprint for _, n in service.test_notifiers["slack"].calls] == ["fp-search", FP]


def test_a_silenced_alert_that_never_paged_resolves_silently(make_service):
    service = make_service(two_level_settings(resolve_quiet_s=60))
    service.silences.add({"service.name": "checkout"}, T0 - 1, T0 + 3600, "deploy", "alice")
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    service.tick(T0 + 61)
    assert state(service) == "resolved"
    assert service.test_notifiers["slack"].calls == [] and service.test_notifiers["pagerduty"].calls == []


def test_a_critical_alert_inhibits_warnings_on_the_same_series(make_service):
    service = make_service(two_level_settings(inhibit=[InhibitSettings()]))
    service.ingest(anomaly(0, fingerprint="fp-errors", signal="error.rate", kind="rate", severity="critical"),
                   now=T0)
    service.tick(T0)
    service.ingest(anomaly(1, fingerprint="fp-latency"), now=T0 + 1)  # warning, same series
    service.ingest(anomaly(1, fingerprint="fp-other-series", labels={"service.name": "search"}), now=T0 + 1)
    service.tick(T0 + 1)
    paged = [n.alert.fingerprint for _, n in service.test_notifiers["slack"].calls]
    assert paged == ["fp-errors", "fp-other-series"]
    assert service.store.load("fp-latency").muted_by == "inhibited:fp-errors"
    # once the critical one resolves, the warning (still active) is paged
    service.resolve("fp-errors", "cli:alice", now=T0 + 2)
    service.ingest(anomaly(3, fingerprint="fp-latency"), now=T0 + 3)
    service.tick(T0 + 10)
    assert [n.alert.fingerprint for a, n in service.test_notifiers["slack"].calls if a == "send"] == \
        ["fp-errors", "fp-other-series", "fp-latency"]


def test_a_flapping_alert_is_held_open_instead_of_paging_again_and_again(make_service):
    service = make_service(two_level_settings(flapping=FlappingSettings(window_s=3600, threshold=3,
                                                                        hold_quiet_s=1800)))
    t = T0
    for cycle in range(10):  # fires, recovers, fires again... every 2 minutes
        service.ingest(anomaly(2 * cycle), now=t)
        service.tick(t)
        service.ingest(anomaly(2 * cycle + 1, status="resolved"), now=t + 60)
        service.tick(t + 60)
        t += 120
    sends = [a for a, _ in service.test_notifiers["slack"].calls if a == "send"]
    assert len(sends) == 3  # the third episode is held open: no fourth, fifth... page
    alert = service.store.load(FP)
    assert alert.state == "firing" and alert.flapping
    assert any(line["event"] == "flapping" for line in service.store.audit(FP))
    service.tick(t + 1800)  # quiet for the hold period: finally resolves, once
    assert state(service) == "resolved"
    assert service.test_notifiers["slack"].actions()[-1] == ("resolve", "resolved")


def test_manual_resolve_before_any_tick_still_reaches_paged_targets_only(make_service):
    service = make_service()
    service.ingest(anomaly(0), now=T0)
    assert service.resolve(FP, "cli:bob", now=T0 + 1)  # never paged: nothing to resolve anywhere
    service.tick(T0 + 1)
    assert service.test_notifiers["slack"].calls == []
    assert [line["event"] for line in service.store.audit(FP)] == ["opened", "resolved"]
    assert service.store.audit(FP)[-1]["actor"] == "cli:bob"


def test_retryable_failures_back_off_and_then_succeed(make_service):
    slack = InMemoryNotifier(failures=[NotifierError("HTTP 503", retryable=True)] * 2)
    service = make_service(notifiers={"slack": slack, "pagerduty": InMemoryNotifier()})
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    assert slack.calls == []
    service.tick(T0 + 1.9)  # backoff base 2 s: not yet
    assert slack.calls == []
    service.tick(T0 + 2)
    service.tick(T0 + 5.9)
    assert slack.calls == []
    service.tick(T0 + 6)  # 2 s then 4 s
    assert slack.actions() == [("send", "firing")]
    [entry] = service.outbox.entries(FP)
    assert entry.status == "sent" and entry.attempts == 3


def test_a_permanent_failure_is_recorded_and_escalates_to_the_next_level_at_once(make_service):
    slack = InMemoryNotifier(failures=[NotifierError("slack chat_postMessage: HTTP 200 invalid_auth",
                                                     retryable=False)])
    pagerduty = InMemoryNotifier()
    service = make_service(notifiers={"slack": slack, "pagerduty": pagerduty})
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    service.tick(T0 + 1)
    assert pagerduty.actions() == [("send", "escalated")]
    [failed] = [e for e in service.outbox.entries(FP) if e.target == "slack" and e.action == "send"]
    assert failed.status == "failed" and "invalid_auth" in failed.error
    assert service.metrics.registry.get_sample_value("inferwatch_alerting_errors_total",
                                                     {"reason": "delivery_failed"}) == 1
    # the resolve later goes to PagerDuty only; the Slack message that never existed is not "updated"
    service.resolve(FP, "cli:bob", now=T0 + 5)
    service.tick(T0 + 5)
    assert pagerduty.actions()[-1] == ("resolve", "resolved") and slack.calls == []


def test_repeat_policy_starts_over_after_the_last_level(make_service):
    settings = two_level_settings(policies={"default": PolicySettings(
        levels=[LevelSettings(["slack"], 300), LevelSettings(["pagerduty"], 300)], repeat=True)})
    service = make_service(settings)
    for t in range(0, 901, 30):
        service.ingest(anomaly(t), now=T0 + t)
        service.tick(T0 + t)
    assert service.test_notifiers["slack"].actions() == [
        ("send", "firing"), ("update", "escalated"), ("update", "escalated"), ("update", "escalated")]
    assert service.test_notifiers["pagerduty"].actions() == [("send", "escalated"), ("update", "escalated"),
                                                             ("update", "escalated")]
    assert service.store.load(FP).round == 1


def test_two_engine_instances_on_the_same_stream_page_once(make_service):
    slack, pagerduty = InMemoryNotifier(), InMemoryNotifier()
    notifiers = {"slack": slack, "pagerduty": pagerduty}
    services = [make_service(notifiers=notifiers, instance=f"engine-{i}") for i in range(2)]

    def run(service):
        for i in range(300):
            service.ingest(anomaly(i), now=T0 + i)
            service.tick(T0 + i)
        service.tick(T0 + 700)

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert slack.actions().count(("send", "firing")) == 1
    assert pagerduty.actions() == [("send", "escalated")]
    keys = [n.idempotency_key for _, n in slack.calls + pagerduty.calls]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("record, reason", [
    ({"time_unix_nano": 1}, "fingerprint"),
    ({"fingerprint": "x"}, "time_unix_nano"),
    ({"fingerprint": "x", "time_unix_nano": 1, "severity": "fatal"}, "severity"),
    ("not a record", "record"),
])
def test_invalid_records_are_counted_and_never_raise(make_service, record, reason, caplog):
    service = make_service()
    service.ingest(record, now=T0)
    assert service.metrics.registry.get_sample_value("inferwatch_alerting_errors_total",
                                                     {"reason": "invalid_record"}) == 1
    assert reason in caplog.text


def test_a_redis_outage_is_counted_ingest_raises_for_a_retry_and_tick_never_raises(make_service):
    service = make_service()
    service.redis.connection_pool.disconnect()
    service.redis.connection_pool.connection_kwargs.update(port=1)  # nothing listens there
    with pytest.raises(redis.ConnectionError):  # the consumer retries the record instead of committing past it
        service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    errors = {s.labels["reason"]: s.value for m in service.metrics.registry.collect() for s in m.samples
              if s.name == "inferwatch_alerting_errors_total"}
    assert errors.get("ingest:ConnectionError") == 1 and errors.get("evaluate:ConnectionError") == 1


def test_dry_run_target_goes_to_the_outbox_file(make_service, tmp_path, capsys):
    from inferwatch.alerting.notifiers import build_notifiers
    settings = two_level_settings(outbox_path=str(tmp_path / "outbox.jsonl"), targets={
        "slack": TargetSettings(type="slack", channel="C1", dry_run=True),
        "pagerduty": TargetSettings(type="pagerduty", routing_key="R" * 32, dry_run=True)})
    service = make_service(settings, notifiers=build_notifiers(settings))
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    lines = (tmp_path / "outbox.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"target": "slack (dry-run)"' in lines[0] and '"action": "send"' in lines[0]
    assert "slack (dry-run) send firing: [WARNING] gen_ai.client.operation.duration 4.2" in capsys.readouterr().out


def test_a_resolved_alert_is_kept_for_the_retention_period_and_a_reopened_one_forever(make_service):
    service = make_service(two_level_settings(retention_s=3600))
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    service.resolve(FP, "cli:bob", now=T0 + 1)
    service.tick(T0 + 1)
    keys = [service.store.key("alert", FP), service.store.key("seen", FP), service.store.key("audit", FP)]
    assert all(0 < service.redis.ttl(k) <= 3600 for k in keys)
    assert all(0 < service.redis.ttl(service.outbox.prefix + e.key) <= 3600 for e in service.outbox.entries(FP))
    service.ingest(anomaly(1), now=T0 + 2)
    assert all(service.redis.ttl(k) == -1 for k in keys)
