"""An engine SIGKILLed after the provider accepted a page but before it recorded that: no double page, no lost page.

The engine runs in a child process; the fake provider kills it (SIGKILL) the moment the page request arrives, then
processes the request as the real provider would. A fresh engine takes over once the claim's lease has run out.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from alerting.config import AlertingSettings
from alerting.notifiers import build_notifiers
from streams.config import from_mapping

from tests.alerting.conftest import T0, TEST_OUTBOX, anomaly

ROOT = Path(__file__).resolve().parents[2]
FP = "fp-crash"
CHILD = """
import json, sys
from alerting.service import AlertingService
from streams.config import from_mapping
from alerting.config import AlertingSettings
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


@pytest.mark.parametrize("kill_on", ["chat.postMessage", "enqueue"])
def test_engine_killed_between_send_and_record_neither_double_pages_nor_loses_the_page(
        make_service, redis_url, fake_slack, fake_pagerduty, kill_on):
    mapping = settings_mapping(fake_slack, fake_pagerduty)
    settings = from_mapping(AlertingSettings, mapping, "alerting")
    service = make_service(settings, notifiers=build_notifiers(settings))
    service.ingest(anomaly(0, fingerprint=FP), now=T0)

    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(mapping), redis_url, repr(T0)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed: list[str] = []

    def kill_child(method: str, body: dict) -> None:
        if method == kill_on and not killed:
            killed.append(method)
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)

    fake_slack.on_request = fake_pagerduty.on_request = kill_child
    out, err = child.communicate(timeout=60)
    assert killed == [kill_on] and child.returncode == -signal.SIGKILL, (out, err)
    assert "survived" not in out
    fake_slack.on_request = fake_pagerduty.on_request = None

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
