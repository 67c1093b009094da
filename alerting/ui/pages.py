"""The console's HTML, rendered on the server. Every string that came from an event (labels, signals, comments,
actors) goes through ``text``: redacted and cleaned like every other output (``alerting.redact``), then HTML-escaped.

>>> text('<script>alert(1)</script> key sk-abcdefghijklmnopqrstuv')
'&lt;script&gt;alert(1)&lt;/script&gt; key [secret]'
"""
from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import Any, Iterable
from urllib.parse import quote, urlencode

from inferwatch.alerting.alert import Alert
from inferwatch.alerting.matchers import spec_text
from inferwatch.alerting.redact import redact
from inferwatch.alerting.silences import Silence
from inferwatch.alerting.templates import fmt_number
from inferwatch.alerting.ui.plot import records_svg

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fff}
header{background:#1d2733;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#cfe3ff;text-decoration:none}header .who{margin-left:auto;opacity:.8}
main{padding:12px 16px;max-width:1100px}
table{border-collapse:collapse;width:100%;margin:6px 0 16px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e4e4e4;vertical-align:top}
th{background:#f4f5f7;font-weight:600}
.label{display:inline-block;background:#eef1f5;border-radius:3px;padding:0 5px;margin:1px 2px;font-size:12px}
.sev-critical{color:#b00020;font-weight:600}.sev-warning{color:#b25e00;font-weight:600}.sev-info{color:#2358a8}
.state{font-weight:600}.state-firing{color:#b00020}.state-acknowledged{color:#6b4fbb}.state-pending{color:#b25e00}
.state-resolved{color:#2e7d32}
.error{background:#fdecea;border:1px solid #f5c2c0;padding:6px 10px;margin:8px 0}
form.inline{display:inline}button{cursor:pointer;padding:3px 10px}
input[type=text],input[type=password]{padding:4px;min-width:300px}
h2{margin:16px 0 4px;font-size:16px}.muted{color:#777}
"""


def text(value: object) -> str:
    """Untrusted text for HTML: redacted, one line, escaped (quotes too, so it is safe in attributes)."""
    return escape(redact(value))


def when(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def alert_url(fingerprint: str) -> str:
    return "/alerts/" + quote(fingerprint, safe="")


def layout(title: str, body: str, user: str | None = None, csrf: str = "") -> str:
    who = ""
    if user is not None:
        who = f'<span class="who">{text(user)}</span>'
        if csrf and user not in ("local", "token"):
            who += f'<form class="inline" method="post" action="/logout">{hidden(csrf)}<button>log out</button></form>'
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>{escape(title)} · inferwatch</title><style>{STYLE}</style></head><body>"
            f'<header><b>inferwatch</b><a href="/">Alerts</a><a href="/silences">Silences</a>{who}</header>'
            f"<main>{body}</main></body></html>")


def hidden(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(csrf)}">'


def error_box(message: str) -> str:
    return f'<div class="error" role="alert">{text(message)}</div>' if message else ""


def labels_html(labels: dict[str, Any]) -> str:
    return "".join(f'<span class="label">{text(k)}={text(v)}</span>' for k, v in labels.items())


def state_html(alert: Alert) -> str:
    muted = f' <span class="muted">(muted by {text(alert.muted_by)})</span>' if alert.muted_by and alert.active else ""
    return f'<span class="state state-{escape(alert.state)}">{escape(alert.state)}</span>{muted}'


def login_page(error: str = "") -> str:
    return layout("Log in", f"<h1>Log in</h1>{error_box(error)}"
                  '<form method="post" action="/login"><p><label>Name (for the audit trail) '
                  '<input type="text" name="user" required maxlength="64" pattern="[A-Za-z0-9_.@+-]+"></label></p>'
                  '<p><label>Console token <input type="password" name="token" required></label></p>'
                  '<p><button type="submit">Log in</button></p></form>')


def alerts_page(alerts: list[Alert], filter_value: str, show_all: bool, error: str, user: str, csrf: str) -> str:
    """Alerts grouped by service, like Alertmanager's alert list."""
    groups: dict[str, list[Alert]] = {}
    for a in alerts:
        groups.setdefault(str(a.series.get("service.name", "(no service)")), []).append(a)
    checked = " checked" if show_all else ""
    body = [f"<h1>{'Alerts' if show_all else 'Active alerts'}</h1>",
            '<form method="get" action="/"><input type="text" name="filter" placeholder='
            '"service.name=checkout severity=~warning|critical" '
            f'value="{escape(filter_value)}"> <label><input type="checkbox" name="all" value="1"{checked}> '
            "include resolved</label> <button>Filter</button></form>", error_box(error)]
    if not alerts:
        body.append('<p class="muted">No alerts match.</p>')
    for service in sorted(groups):
        rows = []
        for a in groups[service]:
            r = a.record
            rows.append(f'<tr data-fingerprint="{escape(a.fingerprint)}"><td>{state_html(a)}</td>'
                        f'<td class="sev-{escape(a.severity)}">{escape(a.severity)}</td>'
                        f'<td><a href="{alert_url(a.fingerprint)}">{text(r.get("signal", ""))}</a> '
                        f'<span class="muted">{text(r.get("kind", ""))}</span></td>'
                        f"<td>{text(fmt_number(r.get('value')))} <span class=muted>vs</span> "
                        f"{text(fmt_number(r.get('expected')))}</td>"
                        f"<td>{labels_html({k: v for k, v in a.series.items() if k != 'service.name'})}</td>"
                        f"<td>{when(a.last_seen)}</td></tr>")
        body.append(f'<h2>service.name={text(service)} <span class="muted">({len(groups[service])})</span></h2>'
                    "<table><tr><th>State</th><th>Severity</th><th>Signal</th><th>Seen vs expected</th>"
                    f"<th>Labels</th><th>Last seen (UTC)</th></tr>{''.join(rows)}</table>")
    return layout("Alerts", "".join(body), user, csrf)


def alert_page(alert: Alert, audit: list[dict], records: list[dict], user: str, csrf: str, error: str = "") -> str:
    r = alert.record
    actions = ""
    if alert.state in ("pending", "firing"):
        actions += _action(alert, "ack", "Acknowledge", csrf)
    if alert.active:
        actions += _action(alert, "resolve", "Resolve", csrf)
    silence_spec = {k: str(v) for k, v in alert.series.items()}
    silence_link = "/silences?" + urlencode({"matchers": spec_text(silence_spec)})
    svg = records_svg(records, redact(r.get("unit", "")))
    facts = [("State", state_html(alert)), ("Severity", f'<span class="sev-{escape(alert.severity)}">'
                                                       f"{escape(alert.severity)}</span>"),
             ("Episode", f"{alert.episode} (opened {when(alert.opened_at)} UTC)"),
             ("Signal", f"{text(r.get('signal', ''))} <span class=muted>{text(r.get('kind', ''))}</span>"),
             ("Seen / expected", f"{text(fmt_number(r.get('value')))} / {text(fmt_number(r.get('expected')))}"
                                 f" <span class=muted>{text(r.get('unit', ''))}</span>"),
             ("Score", text(fmt_number(r.get("score")))),
             ("Detector", text(r.get("detector", "-"))),
             ("Labels", labels_html(alert.series)),
             ("Records", f"{alert.count} (last {when(alert.last_seen)} UTC)"),
             ("Policy / level", f"{text(alert.policy or '-')} / {alert.level}"),
             ("Runbook", text(alert.runbook_id or "-")),
             ("Acknowledged by", text(alert.acked_by or "-")),
             ("Fingerprint", f"<code>{text(alert.fingerprint)}</code>")]
    history = "".join(f"<tr><td>{when(line.get('t', 0))}</td><td>{text(line.get('actor', ''))}</td>"
                      f"<td>{text(line.get('event', ''))}</td><td>{text(line.get('detail', ''))}</td></tr>"
                      for line in reversed(audit))
    body = (f"<h1>{text(r.get('signal', alert.fingerprint))}</h1>{error_box(error)}"
            f'<p>{actions} <a href="{escape(silence_link)}">Silence alerts like this…</a></p>'
            "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts) + "</table>"
            f"<h2>Recent records ({len(records)})</h2>"
            + (svg or '<p class="muted">No numeric values to plot.</p>')
            + "<h2>History</h2><table><tr><th>When (UTC)</th><th>Who</th><th>What</th><th>Detail</th></tr>"
            + history + "</table>")
    return layout(str(redact(r.get("signal", "alert"))), body, user, csrf)


def _action(alert: Alert, action: str, label: str, csrf: str) -> str:
    return (f'<form class="inline" method="post" action="{alert_url(alert.fingerprint)}/{action}">{hidden(csrf)}'
            f'<input type="hidden" name="episode" value="{alert.episode}"><button id="{action}">{label}</button>'
            "</form> ")


def silences_page(silences: Iterable[Silence], now: float, user: str, csrf: str, error: str = "",
                  matchers: str = "", comment: str = "") -> str:
    rows = []
    for s in silences:
        status = "active" if s.active(now) else ("expired" if s.ends_at <= now else "upcoming")
        expire = "" if status == "expired" else (
            f'<form class="inline" method="post" action="/silences/{quote(s.id, safe="")}/expire">{hidden(csrf)}'
            f'<button class="expire">Expire</button></form>')
        rows.append(f'<tr data-silence="{escape(s.id)}" data-status="{status}"><td>{escape(s.id)}</td>'
                    f"<td>{status}</td><td>{labels_html(s.matchers)}</td>"
                    f"<td>{when(s.starts_at)} → {when(s.ends_at)}</td><td>{text(s.created_by)}</td>"
                    f"<td>{text(s.comment)}</td><td>{expire}</td></tr>")
    body = ("<h1>Silences</h1>" + error_box(error)
            + '<form method="post" action="/silences">' + hidden(csrf)
            + '<p><label>Matchers <input type="text" name="matchers" required placeholder='
            f'"service.name=checkout kind=~rate|threshold" value="{escape(matchers)}"></label></p>'
            '<p><label>For <input type="text" name="duration" value="2h" size="6" style="min-width:0"></label> '
            '<label>Starts in <input type="text" name="starts_in" value="" size="6" style="min-width:0" '
            'placeholder="now"></label></p>'
            f'<p><label>Comment <input type="text" name="comment" required value="{escape(comment)}"></label></p>'
            '<p><button id="create-silence">Create silence</button></p></form>'
            "<table><tr><th>ID</th><th>Status</th><th>Matchers</th><th>Window (UTC)</th><th>By</th>"
            f"<th>Comment</th><th></th></tr>{''.join(rows)}</table>")
    return layout("Silences", body, user, csrf)


def message_page(title: str, message: str, user: str | None = None) -> str:
    return layout(title, f"<h1>{escape(title)}</h1>{error_box(message)}", user)
