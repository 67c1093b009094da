"""The generic webhook against a local HTTP server that records requests: Alertmanager's webhook JSON (version 4),
5xx/429 retried by the engine, 4xx not, one POST per message even with two engines, and a post repeated after a
crash carries the same Idempotency-Key."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from inferwatch.alerting.config import AlertingSettings
from inferwatch.alerting.notifiers import WebhookNotifier, build_notifiers
from inferwatch.streams.config import from_mapping

from tests.alerting.conftest import T0, TEST_OUTBOX, anomaly
from tests.alerting.test_crash import CHILD

ROOT = Path(__file__).resolve().parents[2]
FP = "fp-latency-checkout"
#: the keys of Alertmanager's webhook payload and of each of its alerts (prometheus/alertmanager notify/webhook)
AM_KEYS = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
           "commonAnnotations", "externalURL", "alerts"}
AM_ALERT_KEYS = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}


class Receiver:
    """A webhook receiver: records every POST (path, headers, JSON body); answers queued statuses, then 200."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.on_request: Callable[[dict], None] | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = {"path": self.path, "headers": dict(self.headers), "body": body}
                if receiver.on_request:
                    receiver.on_request(request)
                receiver.requests.append(request)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/alerts?token=hook-s3cret"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [r["body"] for r in self.requests]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def hook_mapping(receiver: Receiver, **extra) -> dict:
    return {"outbox_path": str(TEST_OUTBOX), "console_url": "https://inferwatch.example",
            "targets": {"team-hook": {"type": "webhook", "url": receiver.url}},
            "policies": {"default": {"levels": [{"targets": ["team-hook"]}]}},
            "webhook": {"timeout_s": 5}, **extra}


def hook_service(make_service, receiver: Receiver, instance: str | None = None):
    settings = from_mapping(AlertingSettings, hook_mapping(receiver), "alerting")
    return make_service(settings, notifiers=build_notifiers(settings), instance=instance)


def test_firing_and_resolved_are_posted_as_alertmanager_webhook_json(make_service, receiver):
    service = hook_service(make_service, receiver)
    assert isinstance(service.engine.notifiers["team-hook"], WebhookNotifier)
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    service.acknowledge(FP, "slack:U42", now=T0 + 10)
    service.tick(T0 + 10)  # Alertmanager has no acknowledgement: nothing is posted
    service.resolve(FP, "cli:alice", now=T0 + 60)
    service.tick(T0 + 60)
    firing, resolved = receiver.bodies()
    assert set(firing) == AM_KEYS and set(firing["alerts"][0]) == AM_ALERT_KEYS
    assert (firing["version"], firing["status"], resolved["status"]) == ("4", "firing", "resolved")
    assert firing["receiver"] == "team-hook" and firing["externalURL"] == "https://inferwatch.example"
    alert = firing["alerts"][0]
    assert alert["labels"] == {"service_name": "checkout", "gen_ai_request_model": "gpt-4o", "severity": "warning",
                               "alertname": "llm-latency", "kind": "threshold",
                               "signal": "gen_ai.client.operation.duration", "detector": "latency"}
    assert alert["annotations"]["summary"] == "WARNING: LLM call latency above its baseline · checkout"
    assert alert["annotations"]["value"] == "4.2 s" and alert["annotations"]["expected"] == "high=1.5 s"
    assert alert["startsAt"] == "2027-01-15T08:00:00Z" and alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["fingerprint"] == FP and alert["generatorURL"] == f"https://inferwatch.example/alerts/{FP}"
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    assert firing["groupKey"] == resolved["groupKey"] and firing["commonLabels"] == alert["labels"]
    assert all(r["headers"]["Content-Type"] == "application/json" for r in receiver.requests)


@pytest.mark.parametrize("status, retried", [(503, True), (500, True), (429, True), (400, False), (404, False)])
def test_a_5xx_or_429_is_retried_and_a_4xx_is_not(make_service, receiver, status, retried):
    receiver.statuses = [status]
    service = hook_service(make_service, receiver)
    service.ingest(anomaly(0), now=T0)
    for t in (0, 5, 30):
        service.tick(T0 + t)
    assert len(receiver.requests) == (2 if retried else 1)
    [page] = [e for e in service.outbox.entries(FP) if e.action == "send"]
    assert (page.status, page.attempts) == (("sent", 2) if retried else ("failed", 1))
    assert "hook-s3cret" not in page.error and "127.0.0.1" not in page.error  # the URL may hold a token
    if not retried:
        assert page.error == f"webhook team-hook: HTTP {status}"


def test_two_engines_post_each_message_once(make_service, receiver):
    one = hook_service(make_service, receiver, instance="one")
    two = hook_service(make_service, receiver, instance="two")
    one.ingest(anomaly(0), now=T0)
    ticks = [threading.Thread(target=s.tick, args=(T0,)) for s in (one, two, one, two)]
    for t in ticks:
        t.start()
    for t in ticks:
        t.join()
    one.resolve(FP, "cli:alice", now=T0 + 60)
    two.tick(T0 + 60)
    one.tick(T0 + 61)
    assert [b["status"] for b in receiver.bodies()] == ["firing", "resolved"]


def test_a_post_repeated_after_a_crash_carries_the_same_idempotency_key(make_service, redis_url, receiver):
    mapping = hook_mapping(receiver)
    service = hook_service(make_service, receiver)
    service.ingest(anomaly(0), now=T0)
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(mapping), redis_url, repr(T0)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def kill_child(request: dict) -> None:  # the receiver got the post; the engine dies before recording it
        if child.returncode is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)

    receiver.on_request = kill_child
    out, err = child.communicate(timeout=60)
    receiver.on_request = None
    assert child.returncode == -signal.SIGKILL and "survived" not in out, err
    deadline = time.monotonic() + 10  # the receiver finishes the request after the engine died
    while not receiver.requests:
        assert time.monotonic() < deadline, "the post the engine died on never completed"
        time.sleep(0.01)
    service.tick(T0 + 1)  # the dead engine's lease still holds: nothing is posted meanwhile
    assert len(receiver.requests) == 1
    service.tick(T0 + service.settings.retry.lease_s + 1)
    first, again = receiver.requests
    assert first["headers"]["Idempotency-Key"] == again["headers"]["Idempotency-Key"] == f"{FP}/1/r0/l0/team-hook"
    assert first["body"]["alerts"][0]["fingerprint"] == again["body"]["alerts"][0]["fingerprint"]
    assert {e.status for e in service.outbox.entries(FP)} == {"sent"}
    service.tick(T0 + 500)
    assert len(receiver.requests) == 2
