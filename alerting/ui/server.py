"""The console's HTTP server: routes, authentication and CSRF checks around ``AlertingService`` calls.

Same connection limits as the Slack endpoint (``alerting.slack_actions.BoundedHTTPServer``: a bounded number of
threads, a socket timeout, bodies capped before they are read). Pages are served with a Content-Security-Policy
that allows no script at all and no framing; every action is a POST with a CSRF token (``alerting.ui.auth``) whose
``Origin``, when the browser sends one, must be the console itself.

Routes: ``GET /`` (alerts; ``?filter=<matchers>&all=1``), ``GET /alerts/<fp>``, ``POST /alerts/<fp>/ack|resolve``,
``GET|POST /silences``, ``POST /silences/<id>/expire``, ``GET|POST /login``, ``POST /logout``.
"""
from __future__ import annotations

import argparse
import logging
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import redis

from inferwatch.alerting.matchers import MatcherError, matcher_spec, matches, parse_matcher_text
from inferwatch.alerting.service import AlertingService
from inferwatch.alerting.slack_actions import MAX_CONNECTIONS, SOCKET_TIMEOUT_S, BoundedHTTPServer, Refused, content_length
from inferwatch.alerting.ui import pages
from inferwatch.alerting.ui.auth import Access, Identity, valid_user
from inferwatch.detectors.durations import parse_duration

log = logging.getLogger(__name__)

#: alerts listed with ``all=1`` (most recently changed first)
RECENT_LIMIT = 500
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # not no-referrer: that makes browsers send "Origin: null" on our forms
    "Cache-Control": "no-store",
}


class Answer(Exception):
    """A finished response: status, HTML and extra headers (raised from deep inside a route)."""

    def __init__(self, status: int, html: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.html, self.headers = status, html, headers or {}


def redirect(location: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(303, "", {"Location": location, **(headers or {})})


class Console:
    """The routes, independent of the HTTP plumbing: ``get``/``post`` return an Answer for a path."""

    def __init__(self, service: AlertingService, access: Access) -> None:
        self.service, self.access = service, access

    @property
    def now(self) -> float:
        return self.service.clock()

    # ----------------------------------------------------------------------------------------------- reading

    def get(self, path: str, query: dict[str, str], who: Identity) -> Answer:
        csrf = self.access.csrf_token(who)
        if path == "/":
            return self.alerts(query, who, csrf)
        if path.startswith("/alerts/") and path.count("/") == 2:
            return self.alert(unquote(path[len("/alerts/"):]), who, csrf)
        if path == "/silences":
            return Answer(200, pages.silences_page(self.service.silences.all(), self.now, who.user, csrf,
                                                   matchers=query.get("matchers", "")))
        raise Answer(404, pages.message_page("Not found", f"no page {path}", who.user))

    def alerts(self, query: dict[str, str], who: Identity, csrf: str) -> Answer:
        show_all = query.get("all") == "1"
        alerts = self.service.store.recent(RECENT_LIMIT) if show_all else self.service.store.active_alerts()
        filter_value, status, error = query.get("filter", ""), 200, ""
        try:
            wanted = parse_matcher_text(filter_value)
            alerts = [a for a in alerts if matches(wanted, a.labels)]
        except MatcherError as exc:
            status, error = 400, f"filter: {exc}"
        return Answer(status, pages.alerts_page(alerts, filter_value, show_all, error, who.user, csrf))

    def alert(self, fingerprint: str, who: Identity, csrf: str, status: int = 200, error: str = "") -> Answer:
        alert = self.service.store.load(fingerprint)
        if alert is None:
            raise Answer(404, pages.message_page("Not found", f"no alert {fingerprint}", who.user))
        page = pages.alert_page(alert, self.service.store.audit(fingerprint), self.service.store.records(fingerprint),
                                who.user, csrf, error)
        return Answer(status, page)

    # ----------------------------------------------------------------------------------------------- acting

    def post(self, path: str, form: dict[str, str], who: Identity) -> Answer:
        if not self.access.csrf_ok(who, form.get("csrf", "")):
            raise Answer(403, pages.message_page("Forbidden", "missing or wrong CSRF token: reload the page and "
                                                              "try again", who.user))
        actor = f"ui:{who.user}"
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "alerts" and parts[3] in ("ack", "resolve"):
            return self.act(unquote(parts[2]), parts[3], form, actor, who)
        if path == "/silences":
            return self.add_silence(form, actor, who)
        if len(parts) == 4 and parts[1] == "silences" and parts[3] == "expire":
            if not self.service.expire_silence(unquote(parts[2]), self.now):
                raise Answer(404, pages.message_page("Not found", f"no silence {unquote(parts[2])}", who.user))
            return redirect("/silences")
        if path == "/logout":
            return redirect("/login" if self.access.login_form else "/", {"Set-Cookie": self.access.end_session()})
        raise Answer(404, pages.message_page("Not found", f"no action {path}", who.user))

    def act(self, fingerprint: str, action: str, form: dict[str, str], actor: str, who: Identity) -> Answer:
        try:
            episode = int(form.get("episode", ""))
        except ValueError:
            raise Answer(400, pages.message_page("Bad request", "episode: not a number", who.user)) from None
        what = "acknowledge" if action == "ack" else "resolve"
        if getattr(self.service, what)(fingerprint, actor, self.now, episode=episode):
            log.info("ui: %s: %s %s (episode %d)", actor, what, fingerprint, episode)
            return redirect(pages.alert_url(fingerprint))
        alert = self.service.store.load(fingerprint)
        if alert is None:
            raise Answer(404, pages.message_page("Not found", f"no alert {fingerprint}", who.user))
        why = f"it is {alert.state}" if alert.episode == episode else f"it is now in episode {alert.episode}"
        return self.alert(fingerprint, who, self.access.csrf_token(who), 409, f"cannot {what}: {why}")

    def add_silence(self, form: dict[str, str], actor: str, who: Identity) -> Answer:
        try:
            spec = matcher_spec(parse_matcher_text(form.get("matchers", "")))
            duration = parse_duration(form.get("duration", ""))
            start = self.now + (parse_duration(form["starts_in"]) if form.get("starts_in", "").strip() else 0.0)
            comment = form.get("comment", "").strip()
            if not comment:
                raise ValueError("a comment is required (why, and who to ask)")
            silence = self.service.add_silence(spec, start, start + duration, comment, actor)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            page = pages.silences_page(self.service.silences.all(), self.now, who.user, self.access.csrf_token(who),
                                       f"invalid silence: {exc}", form.get("matchers", ""), form.get("comment", ""))
            return Answer(400, page)
        log.info("ui: %s added silence %s", actor, silence.id)
        return redirect("/silences")

    # ----------------------------------------------------------------------------------------------- login

    def login(self, form: dict[str, str]) -> Answer:
        user = form.get("user", "").strip()
        if not (self.access.password_ok(form.get("token", "")) and valid_user(user)):
            log.warning("ui: failed login")
            return Answer(401, pages.login_page("wrong token, or a name with characters other than letters, "
                                                "digits and _.@+-"))
        return redirect("/", {"Set-Cookie": self.access.new_session(user)})


def make_server(service: AlertingService, access: Access, host: str, port: int, *,
                timeout_s: float = SOCKET_TIMEOUT_S, max_connections: int = MAX_CONNECTIONS) -> BoundedHTTPServer:
    console = Console(service, access)

    class Handler(BaseHTTPRequestHandler):
        timeout = timeout_s  # a silent client is dropped
        server_version = "inferwatch-ui"
        sys_version = ""

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("ui: " + fmt, *args)

        def do_GET(self) -> None:
            self._serve(lambda path, who: console.get(path, self._query(), who), login=lambda: Answer(
                200, pages.login_page()) if access.login_form else Answer(404, pages.message_page("Not found", "")))

        def do_POST(self) -> None:
            self._serve(lambda path, who: self._post(path, who), login=lambda: self._login())

        def _post(self, path: str, who: Identity) -> Answer:
            self._same_origin()
            return console.post(path, self._form(), who)

        def _login(self) -> Answer:
            if not access.login_form:
                return Answer(404, pages.message_page("Not found", ""))
            self._same_origin()
            return console.login(self._form())

        def _serve(self, route: Callable[[str, Identity], Answer], login: Callable[[], Answer]) -> None:
            path = urlsplit(self.path).path
            try:
                if path == "/login":
                    answer = login()
                else:
                    who = access.identify(self.headers)
                    if who is None:
                        raise Answer(401, pages.login_page() if access.login_form else
                                     pages.message_page("Unauthorized", "authentication required"),
                                     {"WWW-Authenticate": 'Bearer realm="inferwatch"'})
                    answer = route(path, who)
            except Answer as raised:
                answer = raised
            except Refused as refused:
                answer = Answer(refused.status, pages.message_page("Refused", refused.reason))
            except TimeoutError:
                answer = Answer(408, pages.message_page("Timeout", "request body not received"))
            except redis.RedisError as exc:
                log.warning("ui: Redis unavailable: %s", type(exc).__name__)
                answer = Answer(503, pages.message_page("Unavailable", "Redis is unavailable; try again"))
            self._reply(answer)

        def _query(self) -> dict[str, str]:
            return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}

        def _form(self) -> dict[str, str]:
            body = self.rfile.read(content_length(self.headers.get("Content-Length")))
            try:
                return {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
            except UnicodeDecodeError:
                raise Refused(400, "form is not UTF-8") from None

        def _same_origin(self) -> None:
            origin = self.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc != (self.headers.get("Host") or ""):
                raise Refused(403, "cross-origin request")

        def _reply(self, answer: Answer) -> None:
            data = answer.html.encode("utf-8")
            self.send_response(answer.status)
            for name, value in {**SECURITY_HEADERS, **answer.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return BoundedHTTPServer((host, port), Handler, max_connections)
