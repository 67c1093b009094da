"""Related alerts share one Slack thread: the real WebClient against the local Slack server, real Redis."""
from __future__ import annotations

import json
import threading

import pytest

from inferwatch.alerting.config import GroupingSettings, LevelSettings, PolicySettings, RetrySettings

from tests.alerting.conftest import T0, anomaly, service_for, slack_settings

CHANNEL = "C0ALERTS"
SLACK_ONLY = {"default": PolicySettings(levels=[LevelSettings(["slack"])])}


def grouped_settings(fake_slack, **overrides):
    return slack_settings(fake_slack, **{"policies": SLACK_ONLY, "resolve_quiet_s": 3600, **overrides})


def related(i: int, fp: str, service: str = "checkout", model: str = "gpt-4o", **fields) -> dict:
    """An anomaly of ``service`` on its own series (another model), so inhibition stays out of the way."""
    return anomaly(i, fingerprint=fp, labels={"service.name": service, "gen_ai.request.model": model}, **fields)


def headers(messages: list[dict]) -> list[str]:
    return [m["blocks"][0]["text"]["text"] for m in messages]


def keys(messages: list[dict]) -> list[str]:
    """The idempotency keys the messages carry in their metadata (which page each one is)."""
    return [m["metadata"]["event_payload"]["idempotency_key"] for m in messages]


def test_related_alerts_share_the_first_alerts_thread(make_service, fake_slack):
    service = service_for(make_service, grouped_settings(fake_slack))
    service.ingest(related(0, "fp-latency"), now=T0)
    service.tick(T0)
    [first] = fake_slack.top_level(CHANNEL)
    service.ingest(related(60, "fp-errors", model="claude", kind="rate", signal="error.rate"), now=T0 + 60)
    service.ingest(related(61, "fp-search", service="search"), now=T0 + 61)
    service.tick(T0 + 61)

    top = fake_slack.top_level(CHANNEL)
    assert len(top) == 2 and top[0]["ts"] == first["ts"]  # checkout's thread + search's own message
    assert headers(top) == ["WARNING: LLM call latency above its baseline · checkout",
                            "WARNING: LLM call latency above its baseline · search"]
    [errors] = fake_slack.replies(CHANNEL, first["ts"])
    assert headers([errors]) == ["WARNING: LLM call error rate burst · checkout"]  # the full alert message, with its buttons
    assert [b["type"] for b in errors["blocks"]].count("actions") == 1 and not errors["reply_broadcast"]
    [entry] = service.outbox.entries("fp-errors")
    assert entry.ref == {"channel": CHANNEL, "ts": errors["ts"], "thread_ts": first["ts"]}

    # its transitions update its own message and are replied in the shared thread, naming the alert
    service.acknowledge("fp-errors", "slack:U42", now=T0 + 90)
    service.tick(T0 + 90)
    assert fake_slack.calls("chat.update")[-1]["ts"] == errors["ts"]
    assert "acknowledged by slack:U42" in json.dumps(fake_slack.replies(CHANNEL, first["ts"])[0]["blocks"])
    assert [r["text"] for r in fake_slack.replies(CHANNEL, first["ts"])[1:]] == [
        "*WARNING: LLM call error rate burst · checkout*: Acknowledged by slack:U42."]
    assert len(fake_slack.top_level(CHANNEL)) == 2


def test_a_group_closes_after_its_window_and_when_its_first_alert_resolves(make_service, fake_slack):
    service = service_for(make_service, grouped_settings(fake_slack, grouping=GroupingSettings(window_s=600)))
    pages = [(0, "fp-a"), (601, "fp-b"), (700, "fp-c")]  # b: the window of a's message is over; c: b's is open
    for t, fp in pages:
        service.ingest(related(t, fp, model=fp), now=T0 + t)
        service.tick(T0 + t)
    a, b = fake_slack.top_level(CHANNEL)
    assert fake_slack.replies(CHANNEL, a["ts"]) == []
    assert keys(fake_slack.replies(CHANNEL, b["ts"])) == ["fp-c/1/r0/l0/slack"]

    service.resolve("fp-b", "cli:alice", now=T0 + 710)  # b's message now says resolved: no new alert goes under it
    service.ingest(related(720, "fp-d", model="d"), now=T0 + 720)
    service.tick(T0 + 720)
    assert len(fake_slack.top_level(CHANNEL)) == 3
    service.ingest(related(730, "fp-e", model="e"), now=T0 + 730)
    service.tick(T0 + 730)
    d = fake_slack.top_level(CHANNEL)[2]
    assert keys(fake_slack.replies(CHANNEL, d["ts"])) == ["fp-e/1/r0/l0/slack"]


def test_a_related_alert_more_severe_than_the_first_is_also_shown_in_the_channel(make_service, fake_slack):
    service = service_for(make_service, grouped_settings(fake_slack))
    for i, (fp, severity) in enumerate([("fp-warn", "warning"), ("fp-crit", "critical"), ("fp-info", "info")]):
        service.ingest(related(i, fp, model=fp, severity=severity), now=T0 + i)
        service.tick(T0 + i)
    [first] = fake_slack.top_level(CHANNEL)
    replies = fake_slack.replies(CHANNEL, first["ts"])
    assert [(h.split(":")[0], m["reply_broadcast"]) for h, m in zip(headers(replies), replies)] == [
        ("CRITICAL", True), ("INFO", False)]
    history = fake_slack.calls("conversations.history")
    assert history == []  # nothing was retried, so nothing was looked up


@pytest.mark.parametrize("grouping, labels", [
    (GroupingSettings(window_s=0), {"service.name": "checkout"}),  # grouping off
    (GroupingSettings(), {"gen_ai.request.model": "gpt-4o"}),  # no service.name: no group
    (GroupingSettings(by=["service.name", "gen_ai.request.model"]), {"service.name": "checkout"}),
])
def test_alerts_outside_any_group_get_their_own_message(make_service, fake_slack, grouping, labels):
    service = service_for(make_service, grouped_settings(fake_slack, grouping=grouping))
    for i, kind in enumerate(["threshold", "rate"]):
        service.ingest(anomaly(i, fingerprint=f"fp-{kind}", kind=kind, labels=labels), now=T0 + i)
        service.tick(T0 + i)
    assert len(fake_slack.top_level(CHANNEL)) == 2
    assert not any(m["thread_ts"] for m in fake_slack.messages[CHANNEL])


def test_when_the_groups_first_message_cannot_be_posted_a_related_alert_goes_to_the_channel(make_service,
                                                                                          fake_slack):
    fake_slack.fail("chat.postMessage", 500, {"ok": False, "error": "internal_error"}, times=2)
    settings = grouped_settings(fake_slack, retry=RetrySettings(max_attempts=2, backoff_base_s=2))
    service = service_for(make_service, settings)
    service.ingest(related(0, "fp-a", model="a"), now=T0)
    service.ingest(related(1, "fp-b", model="b"), now=T0)
    for t in range(0, 6):
        service.tick(T0 + t)
    [a] = service.outbox.entries("fp-a")
    [b] = service.outbox.entries("fp-b")
    assert a.status == "failed" and b.status == "sent"
    [message] = fake_slack.top_level(CHANNEL)  # b waited for a's message, then was posted on its own: not lost
    assert keys([message]) == [b.key] and "thread_ts" not in b.ref
    assert b.attempts == 1  # waiting for a's message cost b none of its own attempts

    for t, fp in ((10, "fp-c"), (11, "fp-d")):  # a's failed message no longer holds the group: c opens it anew
        service.ingest(related(t, fp, model=fp), now=T0 + t)
        service.tick(T0 + t)
    b_message, c_message = fake_slack.top_level(CHANNEL)
    assert keys(fake_slack.replies(CHANNEL, c_message["ts"])) == ["fp-d/1/r0/l0/slack"]


def test_two_engine_instances_open_a_group_once(make_service, fake_slack):
    settings = grouped_settings(fake_slack)
    services = [service_for(make_service, settings) for _ in range(2)]
    for i in range(6):
        services[0].ingest(related(i, f"fp-{i}", model=str(i)), now=T0)
    barrier = threading.Barrier(2)

    def run(service):
        barrier.wait()
        for t in range(5):
            service.tick(T0 + t)

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    [first] = fake_slack.top_level(CHANNEL)
    assert len(fake_slack.replies(CHANNEL, first["ts"])) == 5
    assert len(fake_slack.calls("chat.postMessage")) == 6


def test_a_related_alert_waits_for_its_groups_first_message_at_most_max_wait(make_service, fake_slack):
    fake_slack.fail("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "60"})
    settings = grouped_settings(fake_slack, grouping=GroupingSettings(max_wait_s=30))
    service = service_for(make_service, settings)
    service.ingest(related(0, "fp-a", model="a"), now=T0)
    service.ingest(related(1, "fp-b", model="b"), now=T0)
    for t in range(0, 30):
        service.tick(T0 + t)
    assert fake_slack.top_level(CHANNEL) == []  # a is rate limited until T0+60; b waits to go into a's thread
    service.tick(T0 + 30)
    assert keys(fake_slack.top_level(CHANNEL)) == ["fp-b/1/r0/l0/slack"]  # b waited long enough: to the channel
    service.tick(T0 + 60)
    assert keys(fake_slack.top_level(CHANNEL)) == ["fp-b/1/r0/l0/slack", "fp-a/1/r0/l0/slack"]
    assert not any(m["thread_ts"] for m in fake_slack.messages[CHANNEL])
