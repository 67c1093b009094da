"""The HTTP endpoint Slack posts button clicks to (Acknowledge / Resolve on an alert message).

Every request must carry a valid ``X-Slack-Signature`` over the raw body and a ``X-Slack-Request-Timestamp`` at most
five minutes old (``slack_sdk.signature.SignatureVerifier``); anything else gets 401 and changes nothing. A click
only changes Redis (the engine's next tick updates the message), so the answer comes well within Slack's 3 s.
"""
from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from alerting import templates
from alerting.service import AlertingService

log = logging.getLogger(__name__)

#: Slack payloads are small; anything bigger is not from Slack
MAX_BODY_BYTES = 64 * 1024


def handle_payload(service: AlertingService, payload: dict[str, Any]) -> int:
    """Apply the Acknowledge/Resolve actions of a ``block_actions`` payload; returns how many changed an alert."""
    if payload.get("type") != "block_actions":
        return 0
    user = (payload.get("user") or {}).get("id") or "unknown"
    changed = 0
    for action in payload.get("actions") or []:
        fingerprint = str(action.get("value") or "")
        if action.get("action_id") == templates.ACK_ACTION:
            changed += service.acknowledge(fingerprint, f"slack:{user}")
        elif action.get("action_id") == templates.RESOLVE_ACTION:
            changed += service.resolve(fingerprint, f"slack:{user}")
    return changed


def make_server(service: AlertingService, signing_secret: str, host: str, port: int) -> ThreadingHTTPServer:
    verifier = SignatureVerifier(signing_secret)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("slack-actions: " + fmt, *args)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                return self._reply(413)
            body = self.rfile.read(length)
            if not verifier.is_valid_request(body, dict(self.headers)):
                log.warning("slack-actions: rejected a request with a missing, stale or forged signature from %s",
                            self.client_address[0])
                return self._reply(401)
            try:
                payload = json.loads(parse_qs(body.decode())["payload"][0])
            except (KeyError, ValueError, UnicodeDecodeError):
                return self._reply(400)
            handle_payload(service, payload)
            return self._reply(200)

        def _reply(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
