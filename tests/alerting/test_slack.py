"""Slack through the real slack_sdk WebClient against a local server that speaks chat.postMessage/chat.update and
conversations.history/replies."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from inferwatch.alerting.alert import AlertView
from inferwatch.alerting.config import LevelSettings, PolicySettings, RetrySettings, TargetSettings
from inferwatch.alerting.notifiers import Notification, SlackNotifier
from inferwatch.alerting.runbooks import RunbookLibrary

from tests.alerting.conftest import T0, anomaly, service_for, slack_settings

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


def test_one_message_per_alert_updated_in_place_with_a_thread_of_transitions(make_service, fake_slack, runbooks):
    service = service_for(make_service, slack_settings(fake_slack), runbooks)
    for i in range(50):
        service.ingest(anomaly(i), now=T0 + i)
    service.tick(T0 + 50)
    [message] = fake_slack.top_level(CHANNEL)
    text = json.dumps(message["blocks"])
    assert message["text"].startswith("[WARNING] gen_ai.client.operation.duration 4.2 s vs expected high=1.5 s")
    assert "https://git.example/inferwatch/runbooks/latency.md|LLM latency is high" in text
    assert "1. Check the provider status page." in text
    assert "4bf92f3577b34da6a3ce929d0e0e4736" in text  # exemplar trace id
    actions = [b for b in message["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [(a["action_id"], a["value"]) for a in actions] == [("inferwatch_ack", f"1:{FP}"),
                                                               ("inferwatch_resolve", f"1:{FP}"),
                                                               ("inferwatch_silence", f"1:{FP}")]  # episode 1

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


def test_a_user_group_is_mentioned_on_the_pages_of_its_target_and_nowhere_else(make_service, fake_slack):
    settings = slack_settings(
        fake_slack, resolve_quiet_s=3600,
        targets={"team": TargetSettings(type="slack", channel=CHANNEL),
                 "leads": TargetSettings(type="slack", channel="C0LEADS", user_group="S0LEADS")},
        policies={"default": PolicySettings([LevelSettings(["team"], 300), LevelSettings(["leads"], 300)],
                                            repeat=True)})
    service = service_for(make_service, settings)
    evil = anomaly(0, labels={"service.name": "chat", "app.input.topic": "<!subteam^S0EVIL> <!here>"},
                   exemplars=["<!subteam^S0EVIL|everyone>"])
    service.ingest(evil, now=T0)
    service.tick(T0)
    [team] = fake_slack.top_level(CHANNEL)
    assert "<!subteam" not in team["text"] and "you are paged" not in json.dumps(team["blocks"])

    service.tick(T0 + 300)  # nobody acknowledged: level 1 pages the leads, mentioning their user group
    [leads] = fake_slack.top_level("C0LEADS")
    assert leads["text"].startswith("<!subteam^S0LEADS> [WARNING] gen_ai.client.operation.duration")
    assert leads["blocks"][1]["text"]["text"] == "<!subteam^S0LEADS> you are paged for this alert."
    service.tick(T0 + 600)  # repeat: level 0 again (no group to mention), then level 1 again
    service.tick(T0 + 900)
    service.acknowledge(FP, "slack:U42", now=T0 + 910)
    service.tick(T0 + 910)
    assert [r["text"] for r in fake_slack.replies("C0LEADS", leads["ts"])] == [
        "Escalated to level 0: nobody acknowledged in time.",  # news about another level: nobody is pinged
        "<!subteam^S0LEADS> Escalated to level 1: nobody acknowledged in time.",  # paged again: mentioned again
        "Acknowledged by slack:U42."]  # an announcement: nobody is pinged for it
    assert all("<!subteam" not in r["text"] for r in fake_slack.replies(CHANNEL, team["ts"]))

    sent = json.dumps([r["body"] for r in fake_slack.requests])
    assert "<!subteam^S0EVIL" not in sent and "<!here>" not in sent  # record text can mention nobody
    assert "&lt;!subteam^S0EVIL&gt; &lt;!here&gt;" in json.dumps(leads["blocks"])
    assert {m.group(0) for m in re.finditer(r"<!subteam\^\w+", sent)} == {"<!subteam^S0LEADS"}


def test_without_a_base_url_the_runbook_is_its_repository_path_shown_as_text(make_service, fake_slack,
                                                                             fake_pagerduty, tmp_path):
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "latency.md").write_text(RUNBOOK)
    settings = slack_settings(fake_slack, fake_pagerduty, runbook_base_url="", policies={
        "default": PolicySettings([LevelSettings(["slack", "pagerduty"])])})
    service = service_for(make_service, settings, RunbookLibrary.load(tmp_path / "runbooks"))
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    [message] = fake_slack.top_level(CHANNEL)
    [runbook] = [b["text"]["text"] for b in message["blocks"] if "*Runbook:*" in b.get("text", {}).get("text", "")]
    assert runbook.startswith("*Runbook:* LLM latency is high (`runbooks/latency.md`)\n1. Check the provider")
    [trigger] = fake_pagerduty.calls("enqueue")
    assert not trigger.get("links") and trigger["payload"]["custom_details"]["runbook"] == "runbooks/latency.md"
    sent = json.dumps([r["body"] for r in fake_slack.requests + fake_pagerduty.requests])
    assert "file://" not in sent and "<runbooks/" not in sent


def test_a_retried_reply_finds_its_earlier_attempt_beyond_the_first_page_of_the_thread(make_service, fake_slack):
    settings = slack_settings(fake_slack, ack_expiry_s=60)
    service = service_for(make_service, settings)
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    for t in (10, 80, 150):  # acknowledged; the acknowledgement expired: refired; acknowledged again
        service.ingest(anomaly(t), now=T0 + t)
        service.acknowledge(FP, "cli:alice", now=T0 + t)
        service.tick(T0 + t)
    [message] = fake_slack.top_level(CHANNEL)
    assert len(fake_slack.replies(CHANNEL, message["ts"])) == 3
    last = [e for e in service.outbox.entries(FP) if e.action == "update"][-1]
    notifier = SlackNotifier(service.engine.notifiers["slack"].client, CHANNEL, lookup_page_size=1)
    view = AlertView.of(service.store.load(FP), None)
    retry = Notification(idempotency_key=last.key, event="acknowledged", actor="cli:alice", alert=view, attempt=2)
    posts = len(fake_slack.calls("chat.postMessage"))
    assert notifier.update(retry, last.ref) == last.ref
    assert len(fake_slack.calls("chat.postMessage")) == posts  # found on the fourth page: not posted again
    assert [c.get("cursor") for c in fake_slack.calls("conversations.replies")] == [None, "1", "2", "3"]


def responder_settings(fake_slack, fake_pagerduty=None):
    return slack_settings(fake_slack, fake_pagerduty, trace_url_template="https://jaeger.example/trace/{trace_id}",
                          console_url="https://inferwatch.example/")


STAGED = dict(stages=[{"stage": "inference", "value": 2.8429, "expected": 1.5701, "delta": 1.2728},
                      {"stage": "retrieval", "value": 0.1204, "expected": 0.1286, "delta": -0.0082}],
              contributors={"app.tenant.id": [{"value": "tenant-004", "window": 12, "expected": 1.5}]})


def test_a_page_says_what_is_wrong_in_plain_words_with_units_stages_contributors_and_links(make_service, fake_slack,
                                                                                            runbooks):
    service = service_for(make_service, responder_settings(fake_slack), runbooks)
    service.ingest(anomaly(0, **STAGED), now=T0)
    service.tick(T0)
    [message] = fake_slack.top_level(CHANNEL)
    blocks = message["blocks"]
    assert blocks[0]["text"]["text"] == "WARNING: LLM latency is high · checkout"
    text = json.dumps(blocks, ensure_ascii=False)
    assert "*Seen*\\n4.2 s" in text and "*Expected*\\nhigh=1.5 s" in text
    assert "inference: 2.843 s vs 1.57 s (+1.273 s)" in text and "retrieval: 0.1204 s vs 0.1286 s (-0.0082 s)" in text
    assert "app.tenant.id: tenant-004 (12, expected 1.5)" in text
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert f"<https://jaeger.example/trace/{trace}|{trace}>" in text
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [a["text"]["text"] for a in actions["elements"]] == ["Acknowledge", "Resolve", "Silence 1 h",
                                                                "Open in console"]
    assert actions["elements"][-1]["url"] == f"https://inferwatch.example/alerts/{FP}"


def test_a_record_unit_is_used_and_a_rate_is_a_percentage(make_service, fake_slack):
    service = service_for(make_service, slack_settings(fake_slack))
    service.ingest(anomaly(0, fingerprint="fp-rate", signal="request.rate", kind="traffic", value=12.5, expected=3.0,
                           unit="calls/s"), now=T0)
    service.ingest(anomaly(0, fingerprint="fp-err", signal="error.rate", kind="rate", value=0.1818, expected=0.0023),
                   now=T0)
    service.tick(T0)
    texts = sorted(m["text"] for m in fake_slack.messages[CHANNEL])  # the second is in the first one's thread
    assert "error.rate 18.18 % vs expected 0.23 %" in texts[0]
    assert "request.rate 12.5 calls/s vs expected 3 calls/s" in texts[1]


def test_a_trace_id_that_does_not_look_like_one_is_not_linked(make_service, fake_slack):
    service = service_for(make_service, responder_settings(fake_slack))
    service.ingest(anomaly(0, exemplars=["x|<https://evil.example>", "0af7651916cd43dd8448eb211c80319c"]), now=T0)
    service.tick(T0)
    text = json.dumps(fake_slack.top_level(CHANNEL)[0]["blocks"])
    assert "https://jaeger.example/trace/0af7651916cd43dd8448eb211c80319c" in text
    assert "<https://evil.example" not in text and "trace/x" not in text


def test_the_silence_button_mutes_the_series_for_an_hour(make_service, fake_slack, fake_pagerduty):
    import httpx

    from tests.alerting.test_slack_actions import Endpoint, click, signed

    service = service_for(make_service, slack_settings(fake_slack, fake_pagerduty))
    odd = {"service.name": "checkout", "gen_ai.request.model": "=~gpt.*"}  # a value that reads like a regex
    service.ingest(anomaly(0, labels=odd), now=T0)
    service.tick(T0)
    [message] = fake_slack.top_level(CHANNEL)
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    silence_button = next(a for a in actions["elements"] if a["action_id"] == "inferwatch_silence")
    endpoint = Endpoint(service)
    try:
        body = click(silence_button["value"], "inferwatch_silence", user="U9")
        assert httpx.post(endpoint.url, content=body, headers=signed(body)).status_code == 200
    finally:
        endpoint.close()
    [silence] = service.silences.all()
    assert (silence.starts_at, silence.ends_at, silence.created_by) == (T0, T0 + 3600, "slack:U9")
    assert silence.matches(service.store.load(FP).labels)
    assert not silence.matches({**service.store.load(FP).labels, "gen_ai.request.model": "gpt-4o"})  # literal
    service.tick(T0 + 1)
    assert service.store.load(FP).muted_by == f"silence:{silence.id}"
    service.ingest(anomaly(700, labels=odd), now=T0 + 700)
    service.tick(T0 + 700)  # past level 0's timeout: PagerDuty would be paged, but the series is silenced
    assert fake_pagerduty.incidents == []
