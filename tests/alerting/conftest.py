"""Fixtures of the escalation-engine tests: local servers that speak the Slack Web API and the PagerDuty Events API v2.

They are tiny HTTP servers that record requests and keep the state a real provider would (Slack messages per
channel with their metadata; PagerDuty incidents per dedup_key); the real SDK clients talk to them over real HTTP
(PagerDuty over HTTPS with a throwaway CA from trustme). Each can be told to answer the next calls with an error.
"""
from __future__ import annotations

import json
import ssl
import threading
import tempfile
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import redis
import trustme

from inferwatch.alerting.config import AlertingSettings, LevelSettings, PagerDutySettings, PolicySettings, SlackSettings, \
    TargetSettings
from inferwatch.alerting.notifiers import InMemoryNotifier, Notifier, build_notifiers
from inferwatch.alerting.service import AlertingService

T0 = 1_800_000_000.0
#: console/outbox fallbacks in tests write here, never to the checkout's .run/
TEST_OUTBOX = Path(tempfile.mkdtemp(prefix="inferwatch-alerting-tests-")) / "outbox.jsonl"


@dataclass
class Canned:
    """An error answer for the next call(s) of one API method."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class _Server:
    """Base of the fake providers: a threaded HTTP(S) server on 127.0.0.1 with a failure queue per method."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.failures: dict[str, list[Canned]] = {}
        #: called with (method, body) when a request arrives, before it is processed (tests use it to kill clients)
        self.on_request: Callable[[str, dict], None] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle(dict(parse_qs(urlparse(self.path).query)))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or b"{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                self._handle(body)

            def _handle(self, body: dict) -> None:
                method = urlparse(self.path).path.rsplit("/", 1)[-1]
                body = {k: (v[0] if isinstance(v, list) and k not in ("blocks", "links") and len(v) == 1 else v)
                        for k, v in body.items()}
                if server.on_request:
                    server.on_request(method, body)
                status, payload, headers = server.answer(method, body, dict(self.headers))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        # a short poll interval: shutting a server down at the end of each test then takes no noticeable time
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def fail(self, method: str, status: int, body: dict | None = None, headers: dict | None = None,
             times: int = 1) -> None:
        self.failures.setdefault(method, []).append(Canned(status, body or {}, headers or {}, times))

    def answer(self, method: str, body: dict, headers: dict) -> tuple[int, dict, dict]:
        with self.lock:
            self.requests.append({"method": method, "body": body, "headers": headers, "time": time.time()})
            queue = self.failures.get(method) or []
            if queue:
                canned = queue[0]
                canned.times -= 1
                if canned.times <= 0:
                    queue.pop(0)
                return canned.status, canned.body, canned.headers
            return self.ok(method, body)

    def ok(self, method: str, body: dict) -> tuple[int, dict, dict]:
        raise NotImplementedError

    def calls(self, method: str) -> list[dict]:
        with self.lock:
            return [r["body"] for r in self.requests if r["method"] == method]

    def processed(self, match: Callable[[str, dict], bool]) -> bool:
        """Whether a request ``match(method, body)`` accepts has been processed (its effects are in place)."""
        with self.lock:
            return any(match(r["method"], r["body"]) for r in self.requests)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeSlack(_Server):
    """chat.postMessage, chat.update, conversations.history/replies: messages per channel, threads, message metadata.

    Like Slack: metadata is returned only with ``include_all_metadata``, a thread reply shows in the channel's history
    only when posted with ``reply_broadcast``, and conversations.replies pages with ``limit`` and a cursor.
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, list[dict]] = {}
        self._ts = 1_700_000_000.000100

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def ok(self, method: str, body: dict) -> tuple[int, dict, dict]:
        channel = body.get("channel", "")
        if method == "chat.postMessage":
            self._ts += 0.0001
            msg = {"ts": f"{self._ts:.6f}", "text": body.get("text"), "blocks": body.get("blocks"),
                   "thread_ts": body.get("thread_ts"), "reply_broadcast": bool(body.get("reply_broadcast")),
                   "metadata": body.get("metadata")}
            self.messages.setdefault(channel, []).append(msg)
            return 200, {"ok": True, "channel": channel, "ts": msg["ts"], "message": msg}, {}
        if method == "chat.update":
            for msg in self.messages.get(channel, []):
                if msg["ts"] == body.get("ts"):
                    msg.update(text=body.get("text"), blocks=body.get("blocks"))
                    return 200, {"ok": True, "channel": channel, "ts": msg["ts"]}, {}
            return 200, {"ok": False, "error": "message_not_found"}, {}
        if method == "conversations.history":
            shown = [m for m in reversed(self.messages.get(channel, [])) if not m["thread_ts"] or m["reply_broadcast"]]
            return 200, {"ok": True, "messages": self._as_listed(shown, body), "has_more": False}, {}
        if method == "conversations.replies":
            thread = [m for m in self.messages.get(channel, []) if body.get("ts") in (m["ts"], m["thread_ts"])]
            if not thread:
                return 200, {"ok": False, "error": "thread_not_found"}, {}
            start, limit = int(body.get("cursor") or 0), int(body.get("limit") or 1000)
            page, more = thread[start:start + limit], start + limit < len(thread)
            return 200, {"ok": True, "messages": self._as_listed(page, body), "has_more": more,
                         "response_metadata": {"next_cursor": str(start + limit) if more else ""}}, {}
        return 404, {"ok": False, "error": "unknown_method"}, {}

    @staticmethod
    def _as_listed(messages: list[dict], body: dict) -> list[dict]:
        with_metadata = str(body.get("include_all_metadata")).lower() in ("1", "true")
        return [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in messages]

    def top_level(self, channel: str) -> list[dict]:
        """Messages posted to the channel itself (not thread replies)."""
        return [m for m in self.messages.get(channel, []) if not m["thread_ts"]]

    def replies(self, channel: str, ts: str) -> list[dict]:
        return [m for m in self.messages.get(channel, []) if m["thread_ts"] == ts]


class FakePagerDuty(_Server):
    """Events API v2: incidents by dedup_key (a trigger on an open key adds to it; after a resolve it opens anew)."""

    def __init__(self, ssl_context: ssl.SSLContext, ca_file: str) -> None:
        super().__init__(ssl_context)
        self.ca_file = ca_file
        self.incidents: list[dict] = []

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ok(self, method: str, body: dict) -> tuple[int, dict, dict]:
        if method != "enqueue" or body.get("event_action") not in ("trigger", "acknowledge", "resolve"):
            return 400, {"status": "invalid event", "errors": ["event_action"]}, {}
        key = body.get("dedup_key") or f"generated-{len(self.incidents)}"
        open_incident = next((i for i in self.incidents if i["dedup_key"] == key and i["status"] != "resolved"
                              and i["routing_key"] == body.get("routing_key")), None)
        action = body["event_action"]
        if action == "trigger" and open_incident is None:
            self.incidents.append({"dedup_key": key, "routing_key": body.get("routing_key"), "status": "triggered",
                                   "payload": body.get("payload"), "links": body.get("links"), "alerts": 1})
        elif action == "trigger":
            open_incident["alerts"] += 1
        elif open_incident is not None:  # acknowledge/resolve of no open incident is dropped, like PagerDuty does
            open_incident["status"] = "acknowledged" if action == "acknowledge" else "resolved"
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}, {}


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack()
    yield server
    server.close()


@pytest.fixture(scope="session")
def pd_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("pd-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, str(ca_file)


@pytest.fixture
def fake_pagerduty(pd_tls: tuple[ssl.SSLContext, str]) -> Iterator[FakePagerDuty]:
    server = FakePagerDuty(*pd_tls)
    yield server
    server.close()


def two_level_settings(**overrides: Any) -> AlertingSettings:
    """Slack at once, PagerDuty after 600 s without acknowledgement: the documented default, with explicit targets."""
    base: dict[str, Any] = dict(
        targets={"slack": TargetSettings(type="slack", channel="C0ALERTS"), "pagerduty": TargetSettings(type="pagerduty")},
        policies={"default": PolicySettings(levels=[LevelSettings(["slack"], 600), LevelSettings(["pagerduty"])])},
        outbox_path=str(TEST_OUTBOX),
    )
    base.update(overrides)
    return AlertingSettings(**base)


def slack_settings(fake_slack: FakeSlack, fake_pagerduty: FakePagerDuty | None = None,
                   **overrides: Any) -> AlertingSettings:
    """``two_level_settings`` with the Slack (and PagerDuty) credentials and endpoints of the local servers."""
    pd = PagerDutySettings(routing_key="R" * 32, events_url=fake_pagerduty.base_url, ca_file=fake_pagerduty.ca_file) \
        if fake_pagerduty else PagerDutySettings()
    return two_level_settings(**{"slack": SlackSettings(token="xoxb-test-token", api_url=fake_slack.base_url,
                                                        timeout_s=5),
                                 "pagerduty": pd, "runbook_base_url": "https://git.example/inferwatch/runbooks",
                                 **overrides})


def service_for(make_service: Callable[..., AlertingService], settings: AlertingSettings,
                runbooks: Any = None) -> AlertingService:
    """A service whose notifiers are the production ones (real SDK clients) built from ``settings``."""
    return make_service(settings, notifiers=build_notifiers(settings), runbooks=runbooks)


def anomaly(i: int = 0, fingerprint: str = "fp-latency-checkout", **fields: Any) -> dict[str, Any]:
    """An anomaly record as the detectors emit it (issue 2's pinned format); ``i`` advances its event time."""
    record = {
        "time_unix_nano": 1_800_000_000_000_000_000 + i * 1_000_000_000,
        "kind": "threshold", "signal": "gen_ai.client.operation.duration",
        "labels": {"service.name": "checkout", "gen_ai.request.model": "gpt-4o"},
        "value": 4.2, "expected": {"high": 1.5}, "score": 0.97, "severity": "warning", "detector": "latency",
        "fingerprint": fingerprint, "exemplars": ["ev-1", "4bf92f3577b34da6a3ce929d0e0e4736"],
    }
    record.update(fields)
    return record


@pytest.fixture
def make_service(redis_url: str, redis_client: redis.Redis) -> Iterator[Callable[..., AlertingService]]:
    """``make_service(settings=None, notifiers=None, runbooks=None) -> AlertingService`` on the session's Redis.

    Default notifiers are InMemoryNotifiers (one per target, on ``service.test_notifiers``)."""
    made: list[AlertingService] = []

    def make(settings: AlertingSettings | None = None, notifiers: dict[str, Notifier] | None = None,
             runbooks: Any = None, instance: str | None = None) -> AlertingService:
        settings = settings or two_level_settings()
        notifiers = notifiers if notifiers is not None else {name: InMemoryNotifier() for name in settings.targets}
        service = AlertingService.from_settings(settings, redis_url, notifiers=notifiers, runbooks=runbooks,
                                                clock=lambda: T0, instance=instance)
        service.test_notifiers = notifiers  # type: ignore[attr-defined]
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()
