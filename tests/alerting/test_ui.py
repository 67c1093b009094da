"""The web console over real HTTP (httpx) against the real server on the session's Redis: who gets in, CSRF,
escaping of event text, and that its buttons change the engine's state in Redis."""
from __future__ import annotations

import argparse
import re
import threading

import httpx
import pytest

from inferwatch.alerting.ui import cli as ui_cli
from inferwatch.alerting.ui.auth import Access
from inferwatch.alerting.ui.server import make_server
from inferwatch.streams.config import load_settings

from tests.alerting.conftest import T0, anomaly

TOKEN = "console-token-0123456789"
FP = "fp-latency-checkout"
EVIL = "<script>alert('x')</script>"


class Console:
    """A running console on a service whose alert FP is firing after three records."""

    def __init__(self, service, access: Access) -> None:
        self.service = service
        self.server = make_server(service, access, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"},
                                 follow_redirects=False, timeout=10)

    def csrf(self, path: str = "/silences") -> str:
        return re.search(r'name="csrf" value="([^"]+)"', self.http.get(path).text).group(1)

    def close(self) -> None:
        self.http.close()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def start_console(make_service):
    started: list[Console] = []

    def start(token: str = TOKEN, header: str = "", records: list[dict] | None = None) -> Console:
        service = make_service()
        for record in records or [anomaly(i, value=4.2 + i, expected=1.5, score=0.99) for i in range(3)]:
            service.ingest(record)
        service.tick()
        started.append(Console(service, Access(token, header, 3600)))
        return started[-1]

    yield start
    for console in started:
        console.close()


@pytest.fixture
def console(start_console) -> Console:
    return start_console()


def test_without_the_token_every_page_and_action_is_401(console):
    anonymous = httpx.Client(base_url=console.url, timeout=10)
    for method, path in (("GET", "/"), ("GET", f"/alerts/{FP}"), ("GET", "/silences"),
                         ("POST", f"/alerts/{FP}/ack"), ("POST", "/silences")):
        answer = anonymous.request(method, path, data={"episode": "1"})
        assert answer.status_code == 401, (method, path)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "checkout" not in answer.text  # nothing about the alerts leaks
    assert anonymous.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert console.service.store.load(FP).state == "firing"
    assert console.http.get("/").status_code == 200


def test_login_sets_a_signed_httponly_strict_cookie_that_lets_the_browser_in(console):
    browser = httpx.Client(base_url=console.url, timeout=10)
    assert browser.post("/login", data={"user": "alice", "token": "wrong"}).status_code == 401
    answer = browser.post("/login", data={"user": "alice", "token": TOKEN})
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = browser.get("/")
    assert page.status_code == 200 and "alice" in page.text
    name, value = cookie.split(";")[0].split("=", 1)
    body, signature = value.rsplit(".", 1)
    forged = httpx.Client(base_url=console.url, timeout=10, cookies={name: f"{body}.{'0' * len(signature)}"})
    assert forged.get("/").status_code == 401


def test_an_action_without_the_right_csrf_token_is_refused_and_changes_nothing(console):
    for form in ({"episode": "1"}, {"episode": "1", "csrf": "forged"}):
        assert console.http.post(f"/alerts/{FP}/ack", data=form).status_code == 403
    cross_site = {"episode": "1", "csrf": console.csrf()}
    answer = console.http.post(f"/alerts/{FP}/ack", data=cross_site, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert console.service.store.load(FP).state == "firing"
    # a token is bound to its session: the CSRF token of one login does not work for another
    other = httpx.Client(base_url=console.url, timeout=10)
    other.post("/login", data={"user": "mallory", "token": TOKEN})
    assert other.post(f"/alerts/{FP}/ack", data=cross_site).status_code == 403
    assert console.service.store.load(FP).state == "firing"


def test_acknowledge_and_resolve_change_the_alert_in_redis(console):
    answer = console.http.post(f"/alerts/{FP}/ack", data={"episode": "1", "csrf": console.csrf(f"/alerts/{FP}")})
    assert answer.status_code == 303 and answer.headers["Location"] == f"/alerts/{FP}"
    alert = console.service.store.load(FP)
    assert (alert.state, alert.acked_by) == ("acknowledged", "ui:token")
    assert [line["event"] for line in console.service.store.audit(FP)][-1] == "acknowledged"
    page = console.http.get(f"/alerts/{FP}").text
    assert "acknowledged" in page and 'id="ack"' not in page  # no Acknowledge button on an acknowledged alert
    console.http.post(f"/alerts/{FP}/resolve", data={"episode": "1", "csrf": console.csrf()})
    assert console.service.store.load(FP).state == "resolved"


def test_a_button_of_an_old_episode_does_not_act_on_the_new_one(console):
    answer = console.http.post(f"/alerts/{FP}/ack", data={"episode": "0", "csrf": console.csrf()})
    assert answer.status_code == 409 and "episode 1" in answer.text
    assert console.service.store.load(FP).state == "firing"


def test_event_text_is_escaped_everywhere_it_is_shown(start_console):
    record = anomaly(0, labels={"service.name": EVIL, "gen_ai.request.model": f'"><img src=x onerror=alert(1)>'},
                     signal=EVIL, unit=EVIL)
    console = start_console(records=[record])
    fp = console.service.store.active_alerts()[0].fingerprint
    for path in ("/", f"/alerts/{fp}", "/?filter=kind%3Dthreshold"):
        page = console.http.get(path).text
        assert "<script>" not in page and "<img" not in page, path
        assert "&lt;script&gt;" in page
    assert "Content-Security-Policy" in console.http.get("/").headers


def test_the_filter_takes_matchers_and_groups_by_service(start_console):
    records = [anomaly(0), anomaly(0, fingerprint="fp-search", labels={"service.name": "search"}, severity="critical")]
    console = start_console(records=records)
    both = console.http.get("/").text
    assert "service.name=checkout" in both and "service.name=search" in both
    only = console.http.get("/", params={"filter": 'severity=~"crit.*", service.name!=checkout'}).text
    assert 'data-fingerprint="fp-search"' in only and f'data-fingerprint="{FP}"' not in only
    bad = console.http.get("/", params={"filter": "kind=~(unclosed"})
    assert bad.status_code == 400 and "invalid regular expression" in bad.text


def test_the_alert_page_plots_its_records_with_the_anomalies_marked(console):
    page = console.http.get(f"/alerts/{FP}").text
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count('class="anomaly"') == 3  # one per record the store kept
    assert 'class="expected"' in svg and 'class="value"' in svg
    assert "Recent records (3)" in page


def test_silences_are_created_listed_and_expired(console):
    form = {"matchers": 'service.name="checkout", kind=~"threshold|rate"', "duration": "2h", "comment": "deploy",
            "csrf": console.csrf("/silences")}
    assert console.http.post("/silences", data=form).status_code == 303
    [silence] = console.service.silences.all()
    assert silence.matchers == {"service.name": "checkout", "kind": "=~threshold|rate"}
    assert (silence.ends_at - silence.starts_at, silence.created_by) == (7200, "ui:token")
    assert f'data-silence="{silence.id}" data-status="active"' in console.http.get("/silences").text
    assert console.http.post(f"/silences/{silence.id}/expire", data={"csrf": console.csrf()}).status_code == 303
    assert not console.service.silences.active(T0)
    assert f'data-silence="{silence.id}" data-status="expired"' in console.http.get("/silences").text


def test_an_invalid_silence_is_explained_and_not_stored(console):
    form = {"matchers": "kind=~(", "duration": "2h", "comment": "x", "csrf": console.csrf()}
    answer = console.http.post("/silences", data=form)
    assert answer.status_code == 400 and "invalid regular expression" in answer.text
    assert console.service.silences.all() == []


def test_a_trusted_proxy_header_is_honoured_only_when_configured(start_console):
    console = start_console(token="", header="X-Forwarded-User")
    proxied = httpx.Client(base_url=console.url, timeout=10, headers={"X-Forwarded-User": "bob"})
    assert proxied.get("/").status_code == 200
    assert httpx.get(console.url + "/", timeout=10).status_code == 401
    csrf = re.search(r'name="csrf" value="([^"]+)"', proxied.get(f"/alerts/{FP}").text).group(1)
    proxied.post(f"/alerts/{FP}/ack", data={"episode": "1", "csrf": csrf})
    assert console.service.store.load(FP).acked_by == "ui:bob"
    without = start_console(token=TOKEN)
    assert httpx.get(without.url + "/", headers={"X-Forwarded-User": "bob"}, timeout=10).status_code == 401


def test_the_console_refuses_a_public_address_without_authentication(capsys):
    assert ui_cli.run(argparse.Namespace(host="0.0.0.0", port=0), load_settings(env={})) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "INFERWATCH_UI_TOKEN" in err


def test_the_store_keeps_a_bounded_history_of_records(make_service):
    service = make_service()
    service.store.history_max = 5
    for i in range(8):
        service.ingest(anomaly(i, value=float(i)))
    assert [r["value"] for r in service.store.records(FP)] == [3.0, 4.0, 5.0, 6.0, 7.0]
