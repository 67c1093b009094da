"""The HTTP endpoint Slack posts button clicks to (Acknowledge / Resolve / Silence 1 h on an alert message).

What it refuses, in the order it checks (each refusal changes nothing and is answered at once):

- more than ``max_connections`` connections at a time: 503; a connection silent for ``timeout_s``: dropped (so
  half-open connections cannot hold threads forever);
- a missing (411), non-numeric or negative (400) or too large (413) ``Content-Length``, before reading the body;
- a body that is not UTF-8 (400); a missing, malformed, forged or stale signature (401): ``X-Slack-Signature`` over
  the raw body with a ``X-Slack-Request-Timestamp`` at most five minutes away (``slack_sdk.signature``);
- a request already accepted once (409): every accepted (timestamp, signature) is remembered in Redis (``SET NX``)
  for the whole window, so a replay is refused by every replica;
- a payload of the wrong shape (400), or a button rendered for another episode of the alert (409): a button carries
  ``<episode>:<fingerprint>`` and the engine acts only if the alert is still in that episode.

A click only changes Redis (the engine's next tick updates the message), so the answer comes well within Slack's 3 s.
"""
from __future__ import annotations

import json
import logging
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import redis
from slack_sdk.signature import SignatureVerifier

from inferwatch.alerting import templates
from inferwatch.alerting.service import AlertingService

log = logging.getLogger(__name__)

#: Slack payloads are small; anything bigger is not from Slack
MAX_BODY_BYTES = 64 * 1024
#: how far a request's timestamp may be from now (slack_sdk's verifier, both ways); replays are remembered this long
REPLAY_WINDOW_S = 300
#: a connection that sends nothing for this long is dropped
SOCKET_TIMEOUT_S = 5.0
#: requests handled at once; beyond that, 503 at once rather than one more thread
MAX_CONNECTIONS = 32
#: the button actions and what they do
ACTIONS = {templates.ACK_ACTION: "acknowledge", templates.RESOLVE_ACTION: "resolve",
           templates.SILENCE_ACTION: "silence"}

_DIGITS = re.compile(r"[0-9]{1,9}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Refused(Exception):
    """A request answered with a 4xx/5xx status; ``reason`` is for the log (it never holds the body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Click:
    """One button press: which action, on which alert episode, by whom."""

    action: str
    fingerprint: str
    episode: int
    user: str


def content_length(value: str | None) -> int:
    """The body size announced by the client, or Refused: missing 411, not a plain decimal 400, too big 413.

    >>> content_length("120")
    120
    >>> content_length("-1")
    Traceback (most recent call last):
    ...
    inferwatch.alerting.slack_actions.Refused: Content-Length is not a decimal number
    """
    if value is None:
        raise Refused(411, "no Content-Length")
    if not _DIGITS.fullmatch(value.strip()):
        raise Refused(413 if value.strip().isdigit() else 400, "Content-Length is not a decimal number")
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise Refused(413, f"body of {length} bytes")
    return length


def parse_clicks(payload: Any) -> list[Click]:
    """The clicks of a ``block_actions`` payload (other interaction types: none); Refused(400) on any other shape."""
    if not isinstance(payload, dict):
        raise Refused(400, "payload is not an object")
    if payload.get("type") != "block_actions":
        return []
    user, actions = payload.get("user"), payload.get("actions")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not 0 < len(user["id"]) <= 64:
        raise Refused(400, "payload.user.id is not a user id")
    if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
        raise Refused(400, "payload.actions is not a list of objects")
    clicks = []
    for action in actions:
        if action.get("action_id") not in ACTIONS:
            continue
        value = action.get("value")
        try:
            episode, fingerprint = templates.parse_button_value(value if isinstance(value, str) else "")
        except ValueError:
            raise Refused(400, "button value is not <episode>:<fingerprint>") from None
        clicks.append(Click(ACTIONS[action["action_id"]], fingerprint, episode, user["id"]))
    return clicks


def apply_clicks(service: AlertingService, clicks: list[Click]) -> int:
    """Apply the clicks; Refused(409) and nothing applied if one is for an episode that is not the alert's current one.

    Returns how many changed an alert (a second Acknowledge on an acknowledged alert changes nothing, and is fine).
    """
    for click in clicks:
        alert = service.store.load(click.fingerprint)
        if alert is None or alert.episode != click.episode:
            raise Refused(409, f"click for episode {click.episode} of {click.fingerprint!r}, which is not current")
    # the engine checks the episode again inside its transaction: the alert may re-open between load and apply
    return sum(silence_series(service, c.fingerprint, f"slack:{c.user}") if c.action == "silence" else
               getattr(service, c.action)(c.fingerprint, f"slack:{c.user}", episode=c.episode) for c in clicks)


def silence_series(service: AlertingService, fingerprint: str, actor: str,
                   duration_s: float = templates.SILENCE_BUTTON_S) -> bool:
    """Silence 1 h: mute this alert's series and signal (every severity) from now on; the alert is looked at again
    on the next tick, so its pages stop at once. Literal matchers (``=value``): a label value is never a regex."""
    alert = service.store.load(fingerprint)
    if alert is None:
        return False
    labels = {**alert.series, "signal": alert.record.get("signal", ""), "detector": alert.record.get("detector", "")}
    now = service.clock()
    service.add_silence({k: f"={v}" for k, v in labels.items()}, now, now + duration_s,
                        f"Silence {duration_s / 3600:g} h from Slack", actor)
    service.store.wake_active(now)
    return True


class ReplayGuard:
    """Remembers every accepted (timestamp, signature) in Redis for the replay window: ``SET NX`` says who was first,
    so all replicas agree and a request is accepted once."""

    def __init__(self, client: redis.Redis, key_prefix: str, window_s: int = REPLAY_WINDOW_S) -> None:
        self.client, self.prefix, self.window_s = client, f"{key_prefix}slack-seen:", window_s

    def first_time(self, timestamp: str, signature: str) -> bool:
        # a timestamp may be up to one window ahead, and is valid up to one window behind: keep it for both
        return bool(self.client.set(f"{self.prefix}{timestamp}:{signature}", 1, nx=True, ex=2 * self.window_s + 1))


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per request, at most ``max_connections`` at once; beyond that a 503 without a thread."""

    daemon_threads = True
    #: listen backlog (socketserver's default, 5, makes further clients wait seconds for SYN retries)
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type, max_connections: int) -> None:
        super().__init__(address, handler)
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._busy = False

    def process_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            if not self._busy:  # once per busy spell, not once per connection of a flood
                log.warning("slack-actions: busy (%d connections), refusing connections with 503", self.max_connections)
            self._busy = True
            request.setblocking(False)
            for step in (lambda: request.recv(MAX_BODY_BYTES), lambda: request.send(_BUSY)):
                try:  # read what already arrived (closing with unread data would reset the 503), then answer
                    step()
                except OSError:
                    pass
            self.shutdown_request(request)
            return
        self._busy = False
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def serve_forever(server: BoundedHTTPServer, service: AlertingService) -> None:
    """Serve until interrupted, then close the socket and Redis (``slack-actions`` and ``ui`` alike)."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service.close()


def make_server(service: AlertingService, signing_secret: str, host: str, port: int, *,
                timeout_s: float = SOCKET_TIMEOUT_S, max_connections: int = MAX_CONNECTIONS) -> BoundedHTTPServer:
    verifier = SignatureVerifier(signing_secret)
    replays = ReplayGuard(service.redis, service.settings.key_prefix)

    class Handler(BaseHTTPRequestHandler):
        timeout = timeout_s  # socket timeout of every read: a silent client is dropped

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("slack-actions: " + fmt, *args)

        def do_POST(self) -> None:
            try:
                changed = self._act()
                status = 200
                log.info("slack-actions: accepted a click from %s (%d alert(s) changed)", self.client_address[0],
                         changed)
            except Refused as refused:
                status = refused.status
                log.warning("slack-actions: refused a request from %s with %d: %s", self.client_address[0], status,
                            refused.reason)
            except TimeoutError:
                status = 408
                log.warning("slack-actions: %s sent less body than announced", self.client_address[0])
            except redis.RedisError as exc:
                status = 503
                log.warning("slack-actions: Redis unavailable: %s", type(exc).__name__)
            self._reply(status)

        def _act(self) -> int:
            body = self.rfile.read(content_length(self.headers.get("Content-Length")))
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused(400, "body is not UTF-8") from None
            timestamp = self.headers.get("X-Slack-Request-Timestamp") or ""
            signature = self.headers.get("X-Slack-Signature") or ""
            if not (_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)
                    and verifier.is_valid(text, timestamp, signature)):
                raise Refused(401, "missing, stale or forged signature")
            if not replays.first_time(timestamp, signature):
                raise Refused(409, "replay of an accepted request")
            try:
                payload = json.loads(parse_qs(text, strict_parsing=False)["payload"][0])
            except (KeyError, IndexError, ValueError):
                raise Refused(400, "no JSON payload field") from None
            return apply_clicks(service, parse_clicks(payload))

        def _reply(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

    return BoundedHTTPServer((host, port), Handler, max_connections)
