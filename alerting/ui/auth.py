"""Who may use the console, and proof that a form was posted by the console's own page.

Three ways in, checked in this order:

- ``Authorization: Bearer <token>`` (``ui.token`` / ``INFERWATCH_UI_TOKEN``), for scripts;
- a session cookie set by the login form after it was given the token: HttpOnly, ``SameSite=Strict``, and signed
  (HMAC-SHA256 with a key derived from the token, so changing the token logs everyone out);
- the header an authenticating reverse proxy sets (``ui.trusted_user_header``), honoured only when configured.

With none configured the console is open, which ``refusal`` allows only on a loopback address.

Every action is a POST that carries a CSRF token: an HMAC of what the request was authenticated by (the session,
the proxy user, the bearer token), so a page of another site can neither read nor forge it. All comparisons of
secrets are constant-time.

>>> access = Access(token="s3cret", trusted_user_header="", session_ttl_s=60, clock=lambda: 1000.0)
>>> access.identify({"Authorization": "Bearer s3cret"}).user
'token'
>>> access.identify({"Authorization": "Bearer wrong"}) is None
True
>>> cookie = access.new_session("alice")
>>> who = access.identify({"Cookie": cookie.split(";")[0]})
>>> who.user, access.csrf_ok(who, access.csrf_token(who)), access.csrf_ok(who, "forged")
('alice', True, False)
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Mapping

COOKIE = "inferwatch_session"
#: what a user name (login form or proxy header) may look like; anything else is refused, not cleaned
_USER = re.compile(r"[\w.@+-]{1,64}")


@dataclass(frozen=True)
class Identity:
    """An authenticated requester: ``user`` is who acts (audit lines say ``ui:<user>``), ``binding`` is what its
    CSRF token is tied to."""

    user: str
    binding: str


def is_loopback(host: str) -> bool:
    """
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(host: str, token: str, trusted_user_header: str) -> str | None:
    """Why the console must not start on ``host`` (None: it may): an open console only on a loopback address."""
    if token or trusted_user_header or is_loopback(host):
        return None
    return (f"ui: refusing to listen on {host} without authentication: set INFERWATCH_UI_TOKEN (ui.token) or "
            f"ui.trusted_user_header, or listen on 127.0.0.1")


def valid_user(name: str) -> bool:
    return bool(_USER.fullmatch(name))


class Access:
    def __init__(self, token: str, trusted_user_header: str, session_ttl_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.header = trusted_user_header
        self.session_ttl_s = session_ttl_s
        self.clock = clock
        # without a token there are no sessions to keep across restarts: a key per process is enough for CSRF
        seed = token.encode() if token else os.urandom(32)
        self._key = hmac.new(seed, b"inferwatch-ui/v1", hashlib.sha256).digest()

    @property
    def open(self) -> bool:
        """No authentication configured (loopback only)."""
        return not (self.token or self.header)

    @property
    def login_form(self) -> bool:
        return bool(self.token)

    def identify(self, headers: Mapping[str, str]) -> Identity | None:
        """Who sent the request, or None (answer 401)."""
        auth = headers.get("Authorization") or ""
        if self.token and auth[:7].lower() == "bearer " and _same(auth[7:].strip(), self.token):
            return Identity("token", "bearer")
        if self.token:
            session = self._session(headers.get("Cookie") or "")
            if session is not None:
                return session
        if self.header:
            user = (headers.get(self.header) or "").strip()
            if valid_user(user):
                return Identity(user, f"proxy:{user}")
        return Identity("local", "local") if self.open else None

    def new_session(self, user: str) -> str:
        """A ``Set-Cookie`` value for a fresh signed session of ``user``."""
        body = _b64(json.dumps({"u": user, "n": secrets.token_hex(16), "e": self.clock() + self.session_ttl_s}))
        return (f"{COOKIE}={body}.{self._sign('session:' + body)}; HttpOnly; SameSite=Strict; Path=/; "
                f"Max-Age={int(self.session_ttl_s)}")

    @staticmethod
    def end_session() -> str:
        return f"{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"

    def csrf_token(self, who: Identity) -> str:
        return self._sign("csrf:" + who.binding)

    def csrf_ok(self, who: Identity, token: str) -> bool:
        return _same(token, self.csrf_token(who))

    def password_ok(self, given: str) -> bool:
        return bool(self.token) and _same(given, self.token)

    def _session(self, cookie_header: str) -> Identity | None:
        for part in cookie_header.split(";"):
            name, _, value = part.strip().partition("=")
            if name != COOKIE or "." not in value:
                continue
            body, _, signature = value.rpartition(".")
            if not _same(signature, self._sign("session:" + body)):
                return None
            try:
                data = json.loads(base64.urlsafe_b64decode(body.encode()))
                user, nonce, expires = str(data["u"]), str(data["n"]), float(data["e"])
            except (ValueError, KeyError, TypeError):
                return None
            return Identity(user, f"session:{nonce}") if expires > self.clock() and valid_user(user) else None
        return None

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()
