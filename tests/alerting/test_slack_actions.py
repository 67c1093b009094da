"""The Slack interactivity endpoint: signed clicks act, forged, stale, replayed or malformed ones are refused with a
4xx and change nothing. Real HTTP requests (httpx, or raw sockets where a client library would refuse to send the
bytes) against the real server on the session's Redis."""
from __future__ import annotations

import hashlib
import hmac
import json
import select
import socket
import threading
import time
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from inferwatch.alerting import templates
from inferwatch.alerting.alert import AlertView
from inferwatch.alerting.slack_actions import MAX_BODY_BYTES, make_server

from tests.alerting.conftest import T0, anomaly

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
FP = "fp-latency-checkout"


class Endpoint:
    """One running ``slack-actions`` server on a service; ``url`` is what Slack would post to."""

    def __init__(self, service, **server_options) -> None:
        self.service = service
        self.server = make_server(service, SECRET, "127.0.0.1", 0, **server_options)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/slack/actions"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def start_endpoint(make_service):
    """``start_endpoint(service=None, **make_server_options)``; the first call opens episode 1 of FP (firing)."""
    started: list[Endpoint] = []

    def start(service=None, **options) -> Endpoint:
        if service is None:
            service = make_service()
            service.ingest(anomaly(0))
            service.tick()
        started.append(Endpoint(service, **options))
        return started[-1]

    yield start
    for endpoint in started:
        endpoint.close()


@pytest.fixture
def endpoint(start_endpoint):
    return start_endpoint()


def button_value(service, fingerprint: str = FP) -> str:
    """The value of the Acknowledge button of the message the engine would render now for this alert."""
    view = AlertView.of(service.store.load(fingerprint), None)
    [actions] = [b for b in templates.slack_blocks(view) if b["type"] == "actions"]
    return actions["elements"][0]["value"]


def click(value: str, action_id: str = "inferwatch_ack", user: str = "U42") -> bytes:
    payload = {"type": "block_actions", "user": {"id": user},
               "actions": [{"action_id": action_id, "value": value, "type": "button"}]}
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, secret: str = SECRET, timestamp: int | str | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {"X-Slack-Request-Timestamp": ts, "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)}


def raw_signature(body: bytes, ts: str) -> str:
    """Slack's signature over raw bytes (slack_sdk's helper decodes the body as UTF-8 first)."""
    return "v0=" + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()


def raw_post(port: int, headers: list[tuple[str, str | bytes]], body: bytes = b"", timeout: float = 10) -> int:
    """POST exactly these header bytes; the status the server answered (0 if it closed without answering)."""
    head = b"POST /slack/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for name, value in headers:
        head += name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()) + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + b"\r\n" + body)
        reply = sock.recv(4096)
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0


def test_a_signed_click_acknowledges(endpoint):
    body = click(button_value(endpoint.service))
    assert httpx.post(endpoint.url, content=body, headers=signed(body)).status_code == 200
    alert = endpoint.service.store.load(FP)
    assert alert.state == "acknowledged" and alert.acked_by == "slack:U42"


def test_a_signed_resolve_click_resolves(endpoint):
    body = click(button_value(endpoint.service), "inferwatch_resolve", user="U7")
    assert httpx.post(endpoint.url, content=body, headers=signed(body)).status_code == 200
    alert = endpoint.service.store.load(FP)
    assert alert.state == "resolved" and alert.resolved_by == "slack:U7"


@pytest.mark.parametrize("headers", [
    lambda body: signed(body, secret="not-the-secret"),                        # forged
    lambda body: signed(body, timestamp=int(time.time()) - 600),               # stale
    lambda body: {"Content-Type": "application/x-www-form-urlencoded"},        # unsigned
    lambda body: signed(click("1:" + FP, user="U0OTHER")),                    # signature of another body
])
def test_forged_stale_or_unsigned_clicks_are_rejected(endpoint, headers):
    body = click(button_value(endpoint.service), "inferwatch_resolve")
    assert httpx.post(endpoint.url, content=body, headers=headers(body)).status_code == 401
    assert endpoint.service.store.load(FP).state == "firing"


def test_a_replayed_resolve_does_not_touch_the_next_episode(endpoint):
    """The defect: the same signed request sent again within 5 minutes resolved the alert's next episode."""
    service = endpoint.service
    body = click(button_value(service), "inferwatch_resolve", user="U7")
    headers = signed(body)
    assert httpx.post(endpoint.url, content=body, headers=headers).status_code == 200
    service.ingest(anomaly(5), now=T0 + 5)  # the problem comes back: episode 2
    service.tick(T0 + 5)
    assert service.store.load(FP).episode == 2

    assert httpx.post(endpoint.url, content=body, headers=headers).status_code == 409
    alert = service.store.load(FP)
    assert alert.state == "firing" and alert.episode == 2


def test_a_replay_is_refused_by_every_replica(start_endpoint, make_service):
    """Replicas share the memory of seen requests (Redis): a request accepted by one is refused by the others."""
    first = start_endpoint()
    second = start_endpoint(make_service())
    body = click(button_value(first.service))
    headers = signed(body)
    assert httpx.post(first.url, content=body, headers=headers).status_code == 200
    assert httpx.post(second.url, content=body, headers=headers).status_code == 409
    assert httpx.post(first.url, content=body, headers=headers).status_code == 409
    acks = [line for line in first.service.store.audit(FP) if line["event"] == "acknowledged"]
    assert len(acks) == 1


def test_a_click_rendered_for_an_older_episode_is_refused(endpoint):
    service = endpoint.service
    old_value = button_value(service)
    service.resolve(FP, "cli:alice", now=T0 + 1)
    service.ingest(anomaly(5), now=T0 + 5)
    service.tick(T0 + 5)
    assert button_value(service) != old_value  # the new message carries the new episode

    body = click(old_value, "inferwatch_resolve")  # a fresh, correctly signed click on the old message
    assert httpx.post(endpoint.url, content=body, headers=signed(body)).status_code == 409
    alert = service.store.load(FP)
    assert alert.state == "firing" and alert.episode == 2

    body = click(button_value(service), "inferwatch_resolve")
    assert httpx.post(endpoint.url, content=body, headers=signed(body)).status_code == 200
    assert service.store.load(FP).state == "resolved"


@pytest.mark.parametrize("length, status", [
    ("-1", 400),                     # bypassed the body limit: the server read until the client stopped
    ("abc", 400),                    # ValueError in int()
    ("1e3", 400),
    ("+12", 400),
    (str(MAX_BODY_BYTES + 1), 413),
    ("9" * 5000, 413),               # int() refuses more than 4300 digits
])
def test_a_bad_content_length_is_refused_before_the_body_is_read(endpoint, length, status):
    body = click(button_value(endpoint.service), "inferwatch_resolve")
    ts = str(int(time.time()))
    headers = [("Content-Length", length), ("X-Slack-Request-Timestamp", ts),
               ("X-Slack-Signature", raw_signature(body, ts))]
    # the body is not sent: a server that waits for it answers nothing until the client's timeout
    assert raw_post(endpoint.port, headers, timeout=5) == status
    assert endpoint.service.store.load(FP).state == "firing"


def test_a_request_without_content_length_is_refused(endpoint):
    assert raw_post(endpoint.port, [("Transfer-Encoding", "chunked")], b"0\r\n\r\n") == 411


def _payload(payload) -> bytes:
    return urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)}).encode()


MALFORMED = {
    # headers that crashed slack_sdk's verifier (ValueError in int(), TypeError in hmac.compare_digest)
    "non-numeric timestamp": lambda b: (b, [("X-Slack-Request-Timestamp", "soon"),
                                            ("X-Slack-Signature", raw_signature(b, "soon"))]),
    "timestamp of 5000 digits": lambda b: (b, [("X-Slack-Request-Timestamp", "1" * 5000),
                                               ("X-Slack-Signature", "v0=" + "0" * 64)]),
    "non-ASCII signature": lambda b: (b, [("X-Slack-Request-Timestamp", str(int(time.time()))),
                                          ("X-Slack-Signature", "v0=\xe9".encode("latin-1"))]),
    # correctly signed bodies of the wrong shape
    "body not UTF-8": lambda b: (b"payload=%FF\xff\xfe", None),
    "payload not JSON": lambda b: (_payload("{not json"), None),
    "no payload field": lambda b: (b"other=1", None),
    "payload a list": lambda b: (_payload([1, 2]), None),
    "user a string": lambda b: (_payload({"type": "block_actions", "user": "U1",
                                          "actions": [{"action_id": "inferwatch_ack", "value": "1:" + FP}]}), None),
    "actions an object": lambda b: (_payload({"type": "block_actions", "user": {"id": "U1"},
                                              "actions": {"action_id": "inferwatch_ack"}}), None),
    "action a string": lambda b: (_payload({"type": "block_actions", "user": {"id": "U1"},
                                            "actions": ["inferwatch_ack"]}), None),
    "value a number": lambda b: (_payload({"type": "block_actions", "user": {"id": "U1"},
                                           "actions": [{"action_id": "inferwatch_ack", "value": 7}]}), None),
    "value without an episode": lambda b: (click(FP), None),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_requests_get_a_4xx_and_change_nothing(endpoint, case, caplog):
    body, headers = MALFORMED[case](click(button_value(endpoint.service), "inferwatch_resolve"))
    if headers is None:
        ts = str(int(time.time()))
        headers = [("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", raw_signature(body, ts))]
    status = raw_post(endpoint.port, [("Content-Length", str(len(body))), *headers], body)
    assert 400 <= status < 500, f"{case}: answered {status or 'nothing (the handler crashed)'}"
    assert endpoint.service.store.load(FP).state == "firing"
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_half_open_connections_are_bounded_and_dropped_after_the_timeout(start_endpoint):
    """Clients that connect and go silent held a thread each, forever: 200 of them held 200 threads."""
    endpoint = start_endpoint(max_connections=4, timeout_s=3)
    silent = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
        sock.sendall(b"POST /slack/actions HTTP/1.1\r\nContent-Le")  # and nothing more
        silent.append(sock)
    try:
        # 16 are refused at once (503, without a thread); the server accepts in order, so the first 4 hold its 4
        # threads, and they are held until the server's 3 s timeout, longer than the 2 s this waits
        refused: set[socket.socket] = set()
        deadline = time.monotonic() + 2
        while len(refused) < 16 and time.monotonic() < deadline:
            ready, _, _ = select.select([s for s in silent if s not in refused], [], [], 0.1)
            refused.update(ready)
        assert len(refused) == 16
        held = [s for s in silent if s not in refused]
        assert held == silent[:4] and not select.select(held, [], [], 0)[0]
        # then the server hangs up on them (without a timeout, recv would wait for the client's own 10 s timeout)
        assert [s.recv(4096) for s in held] == [b""] * 4
    finally:
        for sock in silent:
            sock.close()
    body = click(button_value(endpoint.service))
    assert httpx.post(endpoint.url, content=body, headers=signed(body)).status_code == 200
