"""The Slack interactivity endpoint: signed clicks act, forged or stale ones are rejected and change nothing."""
from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from alerting.slack_actions import make_server

from tests.alerting.conftest import anomaly

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
FP = "fp-latency-checkout"


@pytest.fixture
def endpoint(make_service):
    service = make_service()
    service.ingest(anomaly(0))
    service.tick()
    server = make_server(service, SECRET, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service, f"http://127.0.0.1:{server.server_address[1]}/slack/actions"
    server.shutdown()
    server.server_close()


def click(action_id: str = "inferwatch_ack", user: str = "U42") -> bytes:
    payload = {"type": "block_actions", "user": {"id": user},
               "actions": [{"action_id": action_id, "value": FP, "type": "button"}]}
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {"X-Slack-Request-Timestamp": ts, "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)}


def test_a_signed_click_acknowledges(endpoint):
    service, url = endpoint
    body = click()
    assert httpx.post(url, content=body, headers=signed(body)).status_code == 200
    alert = service.store.load(FP)
    assert alert.state == "acknowledged" and alert.acked_by == "slack:U42"


@pytest.mark.parametrize("headers", [
    lambda body: signed(body, secret="not-the-secret"),                        # forged
    lambda body: signed(body, timestamp=int(time.time()) - 600),               # stale (replayed)
    lambda body: {"Content-Type": "application/x-www-form-urlencoded"},        # unsigned
    lambda body: signed(click("inferwatch_ack", user="U0OTHER")),             # signature of another body
])
def test_forged_stale_or_unsigned_clicks_are_rejected(endpoint, headers):
    service, url = endpoint
    body = click("inferwatch_resolve")
    assert httpx.post(url, content=body, headers=headers(body)).status_code == 401
    assert service.store.load(FP).state == "firing"


def test_a_signed_resolve_click_resolves(endpoint):
    service, url = endpoint
    body = click("inferwatch_resolve", user="U7")
    assert httpx.post(url, content=body, headers=signed(body)).status_code == 200
    alert = service.store.load(FP)
    assert alert.state == "resolved" and alert.resolved_by == "slack:U7"
