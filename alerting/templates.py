"""Message text for every channel, in one place. Every record-derived string goes through ``alerting.redact``.

>>> from alerting.alert import AlertView
>>> view = AlertView(fingerprint="fp1", episode=1, state="firing", severity="critical", level=0, kind="threshold",
...     signal="gen_ai.client.operation.duration", detector="latency", labels={"service.name": "chat<!here>"},
...     value=4.2, expected={"high": 1.5}, score=0.97, exemplars=["ev-1"], count=3, opened_at=0.0, acked_by="",
...     resolved_by="", flapping=False, dedup_key="inferwatch/fp1/1", runbook=None)
>>> summary(view)
'[CRITICAL] gen_ai.client.operation.duration 4.2 vs expected high=1.5 on service.name=chat<!here> (threshold)'
>>> slack_text(view)
'[CRITICAL] gen_ai.client.operation.duration 4.2 vs expected high=1.5 on service.name=chat&lt;!here&gt; (threshold)'

Mention syntax only ever comes from configuration, through ``mention``; record text is escaped:

>>> slack_text(view, mention("S0ONCALL"))[:60]
'<!subteam^S0ONCALL> [CRITICAL] gen_ai.client.operation.durat'
>>> mention("<!channel>")
Traceback (most recent call last):
...
ValueError: not a Slack user group ID: '<!channel>'
"""
from __future__ import annotations

from typing import Any

from alerting.alert import AlertView
from alerting.config import SLACK_USER_GROUP_ID
from alerting.redact import code_span, escape_slack, for_slack, neutralise_mrkdwn, redact

SUMMARY = "[{severity}] {signal} {value} vs expected {expected} on {series} ({kind})"
HEADER = "{severity}: {signal} ({kind})"
#: the line that tells a mentioned user group why it is pinged
PAGED_LINE = "{mention} you are paged for this alert."
#: a thread reply about one alert of a group names it: the thread holds several
GROUPED_REPLY = "*{header}*: {reply}"
STATE_LINE = {
    "pending": ":hourglass: pending",
    "firing": ":rotating_light: *firing* (level {level})",
    "acknowledged": ":eyes: acknowledged by {acked_by}",
    "resolved": ":white_check_mark: resolved{by}",
}
THREAD_REPLY = {
    "firing": "Firing.",
    "escalated": "Escalated to level {level}: nobody acknowledged in time.",
    "acknowledged": "Acknowledged by {actor}.",
    "refired": "Fired again: the acknowledgement expired and the problem is still active.",
    "resolved": "Resolved by {actor}.",
}
SEVERITY_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
PAGERDUTY_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}
ACK_ACTION, RESOLVE_ACTION = "inferwatch_ack", "inferwatch_resolve"
#: Slack caps: header text 150, section text 3000 (we stay well below)
MAX_LABELS, MAX_EXEMPLARS, MAX_STEPS = 12, 5, 5


def fmt_number(value: Any) -> str:
    """Numbers to 4 significant digits, bands/dicts as ``k=v``, anything else as text (redacted).

    >>> fmt_number(0.123456), fmt_number({"low": 1, "high": 2.5}), fmt_number([1, 2])
    ('0.1235', 'low=1, high=2.5', '[1, 2]')
    """
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{redact(k)}={fmt_number(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_number(v) for v in value) + "]"
    return redact(value)


def series_text(labels: dict[str, Any]) -> str:
    return ", ".join(f"{redact(k)}={redact(v)}" for k, v in list(labels.items())[:MAX_LABELS]) or "-"


def summary(view: AlertView) -> str:
    """One line, redacted but not Slack-escaped (PagerDuty, console, Slack fallback after escaping)."""
    return SUMMARY.format(severity=view.severity.upper(), signal=redact(view.signal), value=fmt_number(view.value),
                          expected=fmt_number(view.expected), series=series_text(view.labels), kind=redact(view.kind))


def mention(user_group: str) -> str:
    """``<!subteam^ID>``: the only place Slack mention syntax is produced, from a configured user group ID."""
    if not SLACK_USER_GROUP_ID.fullmatch(user_group):
        raise ValueError(f"not a Slack user group ID: {user_group!r}")
    return f"<!subteam^{user_group}>"


def is_web_url(url: str) -> bool:
    """A runbook link a browser can open; without a base URL a runbook is a repository path, shown as text."""
    return url.startswith(("https://", "http://"))


def header(view: AlertView) -> str:
    """Severity, signal and kind, redacted but not escaped (Slack's header block is plain text)."""
    return HEADER.format(severity=view.severity.upper(), signal=redact(view.signal), kind=redact(view.kind))[:150]


def slack_text(view: AlertView, mentions: str = "") -> str:
    """The notification fallback text (what a phone shows), after the mention of the paged user group if any."""
    return f"{mentions} {neutralise_mrkdwn(escape_slack(summary(view)))}".lstrip()


def state_line(view: AlertView) -> str:
    by = f" by {for_slack(view.resolved_by)}" if view.resolved_by else ""
    line = STATE_LINE[view.state].format(level=view.level, acked_by=for_slack(view.acked_by or "?"), by=by)
    return line + (" — flapping, held open" if view.flapping and view.state != "resolved" else "")


def slack_blocks(view: AlertView, mentions: str = "") -> list[dict[str, Any]]:
    """Block Kit: header, who is paged, seen vs expected, labels, exemplars, runbook + first steps, Ack/Resolve."""
    fields = [
        f"*Severity*\n{SEVERITY_EMOJI.get(view.severity, '')} {escape_slack(view.severity)}",
        f"*State*\n{state_line(view)}",
        f"*Seen*\n{for_slack(fmt_number(view.value))}",
        f"*Expected*\n{for_slack(fmt_number(view.expected))}",
        f"*Score*\n{for_slack(fmt_number(view.score))}",
        f"*Records*\n{view.count}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header(view)}},
        *([_mrkdwn_section(PAGED_LINE.format(mention=mentions))] if mentions else []),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        _mrkdwn_section("*Series*\n" + ("\n".join(
            f"• {code_span(k)} = {code_span(v)}" for k, v in list(view.labels.items())[:MAX_LABELS]) or "-")),
    ]
    if view.exemplars:
        ids = ", ".join(code_span(e) for e in view.exemplars[:MAX_EXEMPLARS])
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Exemplars: {ids}"}]})
    if view.runbook:
        steps = "\n".join(f"{i}. {escape_slack(s)}" for i, s in enumerate(view.runbook.first_steps[:MAX_STEPS], 1))
        title = escape_slack(view.runbook.title)
        link = f"<{view.runbook.url}|{title}>" if is_web_url(view.runbook.url) else \
            f"{title} (`{escape_slack(view.runbook.url)}`)"
        blocks.append(_mrkdwn_section(f"*Runbook:* {link}\n{steps}".strip()[:3000]))
    if view.state != "resolved":
        buttons = [{"type": "button", "action_id": RESOLVE_ACTION, "value": button_value(view),
                    "text": {"type": "plain_text", "text": "Resolve"}}]
        if view.state != "acknowledged":
            buttons.insert(0, {"type": "button", "action_id": ACK_ACTION, "value": button_value(view),
                               "style": "primary", "text": {"type": "plain_text", "text": "Acknowledge"}})
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                    "text": f"fingerprint {code_span(view.fingerprint)}"}]})
    return blocks


def button_value(view: AlertView) -> str:
    """``<episode>:<fingerprint>``: a click acts only on the episode its message was rendered for."""
    return f"{view.episode}:{view.fingerprint}"


def parse_button_value(value: str) -> tuple[int, str]:
    """(episode, fingerprint) of a button value; ValueError if it is not one we rendered.

    >>> parse_button_value("3:fp:with:colons")
    (3, 'fp:with:colons')
    >>> parse_button_value("fp-without-episode")
    Traceback (most recent call last):
    ...
    ValueError: not an <episode>:<fingerprint> button value
    """
    episode, sep, fingerprint = value.partition(":")
    if not (sep and fingerprint and episode.isascii() and episode.isdigit() and len(episode) <= 18):
        raise ValueError("not an <episode>:<fingerprint> button value")
    return int(episode), fingerprint


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def thread_reply(event: str, actor: str, view: AlertView, mentions: str = "", grouped: bool = False) -> str:
    """The reply announcing a transition; in a group's thread it names its alert, on a page it mentions."""
    reply = THREAD_REPLY[event].format(level=view.level, actor=for_slack(actor))
    if grouped:
        reply = GROUPED_REPLY.format(header=for_slack(header(view)), reply=reply)
    return f"{mentions} {reply}".lstrip()


def pagerduty_trigger(view: AlertView) -> dict[str, Any]:
    """Keyword arguments for ``EventsApiV2Client.trigger`` (without dedup_key)."""
    links = [{"href": view.runbook.url, "text": f"Runbook: {view.runbook.title}"}] if view.runbook and \
        is_web_url(view.runbook.url) else []
    details = {"fingerprint": view.fingerprint, "kind": redact(view.kind), "signal": redact(view.signal),
               "detector": redact(view.detector), "value": fmt_number(view.value),
               "expected": fmt_number(view.expected), "score": fmt_number(view.score),
               "labels": {redact(k): redact(v) for k, v in view.labels.items()},
               "exemplars": [redact(e) for e in view.exemplars[:MAX_EXEMPLARS]]}
    if view.runbook:
        details["runbook"] = view.runbook.url or view.runbook.title
        details["first_steps"] = view.runbook.first_steps[:MAX_STEPS]
    source = redact(view.labels.get("service.name") or "inferwatch")
    return {"summary": summary(view)[:1024], "source": source, "severity": PAGERDUTY_SEVERITY.get(view.severity,
            "warning"), "custom_details": details, "links": links}
