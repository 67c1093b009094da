"""Slack through the real slack_sdk WebClient against a local server that speaks chat.postMessage/chat.update."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from alerting.config import RetrySettings, SlackSettings, PagerDutySettings
from alerting.notifiers import build_notifiers
from alerting.runbooks import RunbookLibrary

from tests.alerting.conftest import T0, anomaly, two_level_settings

FP = "fp-latency-checkout"
CHANNEL = "C0ALERTS"
RUNBOOK = """---
id: latency
title: LLM latency is high
match: {kind: threshold, signal: gen_ai.client.operation.duration}
severity: warning
owner: llm-platform
---
## Meaning
Calls take longer than usual.

## Impact
Users wait.

## Diagnosis
1. Check the provider status page.
2. Compare `app.stage.inference.duration` with retrieval.

## Mitigation
Fail over to the backup model.
"""


@pytest.fixture
def runbooks(tmp_path: Path) -> RunbookLibrary:
    (tmp_path / "latency.md").write_text(RUNBOOK)
    return RunbookLibrary.load(tmp_path)


def slack_settings(fake_slack, fake_pagerduty=None, **overrides):
    pd = PagerDutySettings(routing_key="R" * 32, events_url=fake_pagerduty.base_url, ca_file=fake_pagerduty.ca_file) \
        if fake_pagerduty else PagerDutySettings()
    return two_level_settings(slack=SlackSettings(token="xoxb-test-token", api_url=fake_slack.base_url, timeout_s=5),
                              pagerduty=pd, runbook_base_url="https://git.example/inferwatch/runbooks", **overrides)


def service_for(make_service, settings, runbooks=None):
    return make_service(settings, notifiers=build_notifiers(settings), runbooks=runbooks)


def test_one_message_per_alert_updated_in_place_with_a_thread_of_transitions(make_service, fake_slack, runbooks):
    service = service_for(make_service, slack_settings(fake_slack), runbooks)
    for i in range(50):
        service.ingest(anomaly(i), now=T0 + i)
    service.tick(T0 + 50)
    [message] = fake_slack.top_level(CHANNEL)
    text = json.dumps(message["blocks"])
    assert message["text"].startswith("[WARNING] gen_ai.client.operation.duration 4.2 vs expected high=1.5")
    assert "https://git.example/inferwatch/runbooks/latency.md|LLM latency is high" in text
    assert "1. Check the provider status page." in text
    assert "4bf92f3577b34da6a3ce929d0e0e4736" in text  # exemplar trace id
    actions = [b for b in message["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [(a["action_id"], a["value"]) for a in actions] == [("inferwatch_ack", FP), ("inferwatch_resolve", FP)]

    service.acknowledge(FP, "slack:U42", now=T0 + 60)
    service.tick(T0 + 60)
    service.resolve(FP, "cli:alice", now=T0 + 120)
    service.tick(T0 + 120)
    assert len(fake_slack.top_level(CHANNEL)) == 1
    updates = fake_slack.calls("chat.update")
    assert [u["ts"] for u in updates] == [message["ts"]] * 2
    assert fake_slack.top_level(CHANNEL)[0]["text"] == message["text"]
    assert "resolved by cli:alice" in json.dumps(fake_slack.top_level(CHANNEL)[0]["blocks"])
    assert [r["text"] for r in fake_slack.replies(CHANNEL, message["ts"])] == [
        "Acknowledged by slack:U42.", "Resolved by cli:alice."]
    # the token travels in the Authorization header only, never in a body or the audit log
    assert all("xoxb-test-token" not in json.dumps(r["body"]) for r in fake_slack.requests)
    assert "xoxb-test-token" not in json.dumps(service.store.audit(FP))


def test_429_with_retry_after_is_retried_after_that_delay_then_succeeds(make_service, fake_slack):
    fake_slack.fail("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    service = service_for(make_service, slack_settings(fake_slack))
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    assert fake_slack.top_level(CHANNEL) == []
    service.tick(T0 + 6.9)  # our own backoff (2 s) would be shorter: Retry-After wins
    assert len(fake_slack.calls("chat.postMessage")) == 1
    service.tick(T0 + 7)
    assert len(fake_slack.calls("chat.postMessage")) == 2
    assert len(fake_slack.top_level(CHANNEL)) == 1
    [entry] = service.outbox.entries(FP)
    assert entry.status == "sent" and entry.attempts == 2 and entry.ref["ts"] == fake_slack.top_level(CHANNEL)[0]["ts"]


def test_500_beyond_the_retry_budget_is_recorded_and_the_page_escalates_to_pagerduty(make_service, fake_slack,
                                                                                      fake_pagerduty):
    fake_slack.fail("chat.postMessage", 500, {"ok": False, "error": "internal_error"}, times=100)
    settings = slack_settings(fake_slack, fake_pagerduty,
                              retry=RetrySettings(max_attempts=3, budget_s=60, backoff_base_s=2))
    service = service_for(make_service, settings)
    service.ingest(anomaly(0), now=T0)
    for t in (0, 2, 6, 7):
        service.tick(T0 + t)
    assert len(fake_slack.calls("chat.postMessage")) == 3  # bounded: 3 attempts, then it stops
    [slack_page] = [e for e in service.outbox.entries(FP) if e.target == "slack" and e.action == "send"]
    assert slack_page.status == "failed" and "HTTP 500" in slack_page.error and "budget" in slack_page.error
    assert [i["status"] for i in fake_pagerduty.incidents] == ["triggered"]
    events = [line["event"] for line in service.store.audit(FP)]
    assert events.index("delivery-failed") < events.index("escalated")
    for t in range(10, 200, 10):
        service.tick(T0 + t)
    assert len(fake_slack.calls("chat.postMessage")) == 3


def test_a_bad_token_is_a_permanent_failure_not_retried(make_service, fake_slack):
    fake_slack.fail("chat.postMessage", 200, {"ok": False, "error": "invalid_auth"})
    service = service_for(make_service, slack_settings(fake_slack))
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    service.tick(T0 + 100)
    assert len(fake_slack.calls("chat.postMessage")) == 1
    [page] = [e for e in service.outbox.entries(FP) if e.action == "send" and e.target == "slack"]
    assert page.status == "failed" and "invalid_auth" in page.error


def test_untrusted_text_reaches_slack_escaped_and_redacted(make_service, fake_slack):
    service = service_for(make_service, slack_settings(fake_slack))
    evil = anomaly(0, labels={"service.name": "chat", "app.input.topic": "<!channel> mail jane.doe@example.com"},
                   exemplars=["<@U0ADMIN> <https://evil.example|click>", "key sk-abcdefghijklmnopqrstuvwxyz"])
    service.ingest(evil, now=T0)
    service.tick(T0)
    sent = json.dumps([r["body"] for r in fake_slack.requests])
    for raw in ("<!channel>", "<@U0ADMIN>", "<https://evil.example", "jane.doe@example.com", "sk-abcdefghij"):
        assert raw not in sent
    [message] = fake_slack.top_level(CHANNEL)
    blocks = json.dumps(message["blocks"])
    assert "&lt;!channel&gt; mail [email]" in blocks
    assert "&lt;@U0ADMIN&gt; &lt;https://evil.example|click&gt;" in blocks
    assert "key [secret]" in blocks
