"""PagerDuty through the real ``pagerduty.EventsApiV2Client`` against a local Events API v2 over HTTPS (trustme CA)."""
from __future__ import annotations

import time

from inferwatch.alerting.config import LevelSettings, PagerDutySettings, PolicySettings, TargetSettings
from inferwatch.alerting.notifiers import build_notifiers

from tests.alerting.conftest import T0, anomaly, two_level_settings

FP = "fp-errors-checkout"
ROUTING_KEY = "R0UTINGKEY0000000000000000000000"


def pd_settings(fake_pagerduty, **overrides):
    return two_level_settings(
        targets={"oncall": TargetSettings(type="pagerduty")},
        policies={"default": PolicySettings(levels=[LevelSettings(["oncall"])])},
        pagerduty=PagerDutySettings(routing_key=ROUTING_KEY, events_url=fake_pagerduty.base_url,
                                    ca_file=fake_pagerduty.ca_file, timeout_s=5),
        runbook_base_url="https://git.example/inferwatch/runbooks", **overrides)


class OneRunbook:
    """A RunbookLibrary-shaped stand-in: every alert gets the error-rate runbook."""

    class runbook:
        id, title, severity, owner, escalation = "error-rate", "Error rate is up", "critical", "llm-platform", None
        first_steps = ["Look at error.type breakdown"]

        @staticmethod
        def url(base: str) -> str:
            return f"{base}/error-rate.md"

    def match(self, labels):
        return self.runbook


def test_trigger_acknowledge_resolve_with_one_stable_dedup_key(make_service, fake_pagerduty):
    settings = pd_settings(fake_pagerduty)
    service = make_service(settings, notifiers=build_notifiers(settings), runbooks=OneRunbook())
    service.ingest(anomaly(0, fingerprint=FP, severity="critical", signal="error.rate", kind="rate"), now=T0)
    service.tick(T0)
    service.acknowledge(FP, "cli:alice", now=T0 + 30)
    service.tick(T0 + 30)
    service.resolve(FP, "cli:alice", now=T0 + 60)
    service.tick(T0 + 60)
    events = fake_pagerduty.calls("enqueue")
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {f"inferwatch/{FP}/1"}
    assert {e["routing_key"] for e in events} == {ROUTING_KEY}
    trigger = events[0]
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "checkout"
    assert trigger["payload"]["custom_details"]["first_steps"] == ["Look at error.type breakdown"]
    assert trigger["links"] == [{"href": "https://git.example/inferwatch/runbooks/error-rate.md",
                                 "text": "Runbook: Error rate is up"}]
    assert [i["status"] for i in fake_pagerduty.incidents] == ["resolved"]


def test_429_is_bounded_in_the_client_and_retried_by_the_engine_after_retry_after(make_service, fake_pagerduty):
    fake_pagerduty.fail("enqueue", 429, {"status": "throttled"}, {"Retry-After": "30"}, times=2)
    settings = pd_settings(fake_pagerduty)
    service = make_service(settings, notifiers=build_notifiers(settings))
    service.ingest(anomaly(0, fingerprint=FP), now=T0)
    started = time.monotonic()
    service.tick(T0)
    assert time.monotonic() - started < 5  # the client's default would retry 429 forever
    assert len(fake_pagerduty.calls("enqueue")) == 2 and fake_pagerduty.incidents == []
    service.tick(T0 + 29)
    assert len(fake_pagerduty.calls("enqueue")) == 2
    service.tick(T0 + 30)
    assert len(fake_pagerduty.incidents) == 1
    [entry] = service.outbox.entries(FP)
    assert entry.status == "sent" and entry.attempts == 2


def test_400_is_permanent_recorded_and_counted(make_service, fake_pagerduty):
    fake_pagerduty.fail("enqueue", 400, {"status": "invalid event", "errors": ["payload.summary"]})
    settings = pd_settings(fake_pagerduty)
    service = make_service(settings, notifiers=build_notifiers(settings))
    service.ingest(anomaly(0, fingerprint=FP), now=T0)
    service.tick(T0)
    service.tick(T0 + 600)
    assert len(fake_pagerduty.calls("enqueue")) == 1
    entry, resolve = service.outbox.entries(FP)
    assert entry.status == "failed" and entry.error == "pagerduty trigger: HTTP 400"
    assert resolve.status == "skipped"  # an incident that never opened is not resolved
    assert ROUTING_KEY not in str(service.store.audit(FP))
    assert service.metrics.registry.get_sample_value("inferwatch_alerting_errors_total",
                                                     {"reason": "delivery_failed"}) == 1


def test_a_trigger_carries_timestamp_component_group_class_and_links_to_console_and_traces(make_service,
                                                                                          fake_pagerduty):
    settings = pd_settings(fake_pagerduty, trace_url_template="https://tempo.example/trace/{trace_id}",
                           console_url="https://inferwatch.example")
    service = make_service(settings, notifiers=build_notifiers(settings), runbooks=OneRunbook())
    stages = [{"stage": "inference", "value": 2.84, "expected": 1.57, "delta": 1.27}]
    service.ingest(anomaly(0, fingerprint=FP, severity="critical", stages=stages), now=T0)
    service.tick(T0)
    [trigger] = fake_pagerduty.calls("enqueue")
    payload = trigger["payload"]
    assert payload["summary"].startswith("CRITICAL: Error rate is up · checkout: ")
    assert (payload["timestamp"], payload["component"], payload["group"], payload["class"]) == (
        "2027-01-15T08:00:00Z", "gpt-4o", "checkout", "threshold")
    assert payload["custom_details"]["value"] == "4.2 s"
    assert payload["custom_details"]["stages"] == ["inference: 2.84 s vs 1.57 s (+1.27 s)"]
    assert trigger["client"] == "inferwatch" and trigger["client_url"] == f"https://inferwatch.example/alerts/{FP}"
    assert [link["href"] for link in trigger["links"]] == [
        "https://git.example/inferwatch/runbooks/error-rate.md", f"https://inferwatch.example/alerts/{FP}",
        "https://tempo.example/trace/4bf92f3577b34da6a3ce929d0e0e4736"]  # "ev-1" is too short for a trace id
