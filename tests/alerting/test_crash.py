"""An engine SIGKILLed after the provider accepted a message but before it recorded that: no double page, no lost page.

Covered: the first page (Slack post, PagerDuty trigger), a thread reply announcing a transition, and a related
alert's page into its group's thread.

The engine runs in a child process; the fake provider kills it (SIGKILL) the moment the page request arrives, then
processes the request as the real provider would. A fresh engine takes over once the claim's lease has run out.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from inferwatch.alerting.config import AlertingSettings
from inferwatch.alerting.notifiers import build_notifiers
from inferwatch.alerting.service import AlertingService
from inferwatch.streams.config import from_mapping

from tests.alerting.conftest import T0, TEST_OUTBOX, anomaly

ROOT = Path(__file__).resolve().parents[2]
FP = "fp-crash"
CHILD = """
import json, sys
from inferwatch.alerting.service import AlertingService
from inferwatch.streams.config import from_mapping
from inferwatch.alerting.config import AlertingSettings
settings = from_mapping(AlertingSettings, json.loads(sys.argv[1]), "alerting")
service = AlertingService.from_settings(settings, sys.argv[2], instance="doomed")
print("ticking", flush=True)
service.tick(float(sys.argv[3]))
print("survived", flush=True)
"""


def settings_mapping(fake_slack, fake_pagerduty) -> dict:
    return {
        "outbox_path": str(TEST_OUTBOX),
        "targets": {"slack": {"type": "slack", "channel": "C0ALERTS"}, "pagerduty": {"type": "pagerduty"}},
        "policies": {"default": {"levels": [{"targets": ["slack", "pagerduty"]}]}},
        "slack": {"token": "xoxb-test", "api_url": fake_slack.base_url, "timeout_s": 5},
        "pagerduty": {"routing_key": "K" * 32, "events_url": fake_pagerduty.base_url,
                      "ca_file": fake_pagerduty.ca_file, "timeout_s": 5},
    }


def tick_and_die(mapping: dict, redis_url: str, now: float, fake_slack, fake_pagerduty,
                 kill_on: Callable[[str, dict], bool]) -> None:
    """One engine tick in a child process, SIGKILLed the moment a request matching ``kill_on`` reaches a provider
    (which then processes it: the provider accepted what the engine never recorded)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(mapping), redis_url, repr(now)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed: list[str] = []

    def kill_child(method: str, body: dict) -> None:
        if kill_on(method, body) and not killed:
            killed.append(method)
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)

    fake_slack.on_request = fake_pagerduty.on_request = kill_child
    try:
        out, err = child.communicate(timeout=60)
    finally:
        fake_slack.on_request = fake_pagerduty.on_request = None
    assert killed and child.returncode == -signal.SIGKILL, (out, err)
    assert "survived" not in out
    deadline = time.monotonic() + 10  # the provider finishes the request after the child died
    while not (fake_slack.processed(kill_on) or fake_pagerduty.processed(kill_on)):
        assert time.monotonic() < deadline, "the request the child died on never completed"
        time.sleep(0.01)


def crash_service(make_service, fake_slack, fake_pagerduty) -> tuple[AlertingService, dict]:
    mapping = settings_mapping(fake_slack, fake_pagerduty)
    settings = from_mapping(AlertingSettings, mapping, "alerting")
    return make_service(settings, notifiers=build_notifiers(settings)), mapping


@pytest.mark.parametrize("kill_on", ["chat.postMessage", "enqueue"])
def test_engine_killed_between_send_and_record_neither_double_pages_nor_loses_the_page(
        make_service, redis_url, fake_slack, fake_pagerduty, kill_on):
    service, mapping = crash_service(make_service, fake_slack, fake_pagerduty)
    settings = service.settings
    service.ingest(anomaly(0, fingerprint=FP), now=T0)
    tick_and_die(mapping, redis_url, T0, fake_slack, fake_pagerduty, lambda method, body: method == kill_on)

    # the request the child died on was accepted by the provider, but the outbox still says "sending"
    assert "sending" in {e.status for e in service.outbox.entries(FP)}
    service.tick(T0 + 1)  # lease still held by the dead engine: nothing is sent twice meanwhile
    assert "sending" in {e.status for e in service.outbox.entries(FP)}

    service.tick(T0 + settings.retry.lease_s + 1)  # lease expired: the survivor finishes the job
    assert {e.status for e in service.outbox.entries(FP)} == {"sent"}
    assert len(fake_slack.top_level("C0ALERTS")) == 1  # one Slack message...
    assert len(fake_pagerduty.incidents) == 1  # ...and one PagerDuty incident
    if kill_on == "chat.postMessage":  # Slack: the survivor found the dead engine's post by its metadata
        assert len(fake_slack.calls("chat.postMessage")) == 1 and fake_slack.calls("conversations.history")
    else:  # PagerDuty: the re-sent trigger carried the same dedup_key and folded into the same incident
        assert len(fake_pagerduty.calls("enqueue")) == 2 and fake_pagerduty.incidents[0]["alerts"] == 2
    slack_entry = next(e for e in service.outbox.entries(FP) if e.target == "slack")
    assert slack_entry.ref["ts"] == fake_slack.top_level("C0ALERTS")[0]["ts"]
    # later transitions update that message rather than posting another one
    service.resolve(FP, "cli:alice", now=T0 + 200)
    service.tick(T0 + 200)
    assert len(fake_slack.top_level("C0ALERTS")) == 1
    assert [i["status"] for i in fake_pagerduty.incidents] == ["resolved"]


def test_a_thread_reply_whose_engine_was_killed_is_posted_once(make_service, redis_url, fake_slack, fake_pagerduty):
    service, mapping = crash_service(make_service, fake_slack, fake_pagerduty)
    service.ingest(anomaly(0, fingerprint=FP), now=T0)
    service.tick(T0)
    [message] = fake_slack.top_level("C0ALERTS")
    service.acknowledge(FP, "slack:U42", now=T0 + 10)
    tick_and_die(mapping, redis_url, T0 + 10, fake_slack, fake_pagerduty,
                 lambda method, body: method == "chat.postMessage" and body.get("thread_ts") == message["ts"])
    assert fake_slack.replies("C0ALERTS", message["ts"])  # Slack has the reply; the outbox does not know

    service.tick(T0 + 10 + service.settings.retry.lease_s + 1)
    assert {e.status for e in service.outbox.entries(FP)} == {"sent"}
    assert [r["text"] for r in fake_slack.replies("C0ALERTS", message["ts"])] == ["Acknowledged by slack:U42."]
    assert fake_slack.calls("conversations.replies")  # the survivor looked in the thread before posting
    assert [i["status"] for i in fake_pagerduty.incidents] == ["acknowledged"]


def test_a_grouped_page_whose_engine_was_killed_is_posted_once_in_its_thread(make_service, redis_url, fake_slack,
                                                                             fake_pagerduty):
    service, mapping = crash_service(make_service, fake_slack, fake_pagerduty)
    service.ingest(anomaly(0, fingerprint=FP), now=T0)
    service.tick(T0)
    [first] = fake_slack.top_level("C0ALERTS")
    related = anomaly(1, fingerprint="fp-related", labels={"service.name": "checkout", "gen_ai.request.model": "o3"})
    service.ingest(related, now=T0 + 20)
    tick_and_die(mapping, redis_url, T0 + 20, fake_slack, fake_pagerduty,
                 lambda method, body: method == "chat.postMessage" and body.get("thread_ts") == first["ts"])

    service.tick(T0 + 20 + service.settings.retry.lease_s + 1)
    [page] = [e for e in service.outbox.entries("fp-related") if e.target == "slack"]
    [reply] = fake_slack.replies("C0ALERTS", first["ts"])  # once, in the thread it was decided for
    assert page.status == "sent" and page.ref == {"channel": "C0ALERTS", "ts": reply["ts"], "thread_ts": first["ts"]}
    assert len(fake_slack.top_level("C0ALERTS")) == 1 and len(fake_slack.calls("chat.postMessage")) == 2
