"""Message text for every channel, in one place. Every record-derived string goes through ``alerting.redact``.

>>> from inferwatch.alerting.alert import AlertView
>>> view = AlertView(fingerprint="fp1", episode=1, state="firing", severity="critical", level=0, kind="threshold",
...     signal="gen_ai.client.operation.duration", detector="latency", labels={"service.name": "chat<!here>"},
...     value=4.2, expected={"high": 1.5}, score=0.97, exemplars=["ev-1"], count=3, opened_at=0.0, acked_by="",
...     resolved_by="", flapping=False, dedup_key="inferwatch/fp1/1", runbook=None)
>>> summary(view)
'[CRITICAL] gen_ai.client.operation.duration 4.2 s vs expected high=1.5 s on service.name=chat<!here> (threshold)'
>>> slack_text(view)
'[CRITICAL] gen_ai.client.operation.duration 4.2 s vs expected high=1.5 s on service.name=chat&lt;!here&gt; (threshold)'
>>> header(view)
'CRITICAL: gen_ai.client.operation.duration · chat<!here>'

Mention syntax only ever comes from configuration, through ``mention``; record text is escaped:

>>> slack_text(view, mention("S0ONCALL"))[:60]
'<!subteam^S0ONCALL> [CRITICAL] gen_ai.client.operation.durat'
>>> mention("<!channel>")
Traceback (most recent call last):
...
ValueError: not a Slack user group ID: '<!channel>'
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from inferwatch.alerting.alert import AlertView
from inferwatch.alerting.config import AlertingSettings, SLACK_USER_GROUP_ID
from inferwatch.alerting.redact import code_span, escape_slack, for_slack, neutralise_mrkdwn, redact

SUMMARY = "[{severity}] {signal} {value} vs expected {expected} on {series} ({kind})"
HEADER = "{severity}: {title} · {service}"
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
ACK_ACTION, RESOLVE_ACTION, SILENCE_ACTION = "inferwatch_ack", "inferwatch_resolve", "inferwatch_silence"
#: how long the Silence button mutes the alert's series
SILENCE_BUTTON_S = 3600.0
#: the unit a value is shown in when its record names none, by signal (first match wins; a rate is a share of calls)
SIGNAL_UNITS = ((re.compile(r".*(\.duration|time_to_first_chunk)$"), "s"), (re.compile(r".*tokens$"), "tokens"),
                (re.compile(r"^app\.cost\.usd$"), "USD"), (re.compile(r"^request\.rate$"), "calls/s"),
                (re.compile(r".*\.rate$"), "%"))
#: a record's own unit longer than this is a phrase: shown on its own line, not after every number
MAX_INLINE_UNIT = 12
#: a trace id we put into a link: what trace ids look like (W3C hex, UUIDs, Langfuse/Phoenix ids)
TRACE_ID = re.compile(r"[A-Za-z0-9_-]{8,128}")
MAX_STAGES, MAX_CONTRIBUTORS = 5, 3
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


@dataclass(frozen=True)
class PageLinks:
    """Where a page links to: trace ids through ``trace_url_template``, the alert in the web console."""

    trace_url_template: str = ""
    console_url: str = ""
    #: the label a PagerDuty event names as its ``component``
    component_label: str = "gen_ai.request.model"

    @classmethod
    def of(cls, settings: AlertingSettings) -> "PageLinks":
        return cls(settings.trace_url_template, settings.console_url, settings.component_label)

    def trace(self, trace_id: Any) -> str:
        """The trace's URL, or "" (no template, or an id that does not look like one).

        >>> PageLinks("https://jaeger/trace/{trace_id}").trace("4bf92f3577b34da6"), PageLinks().trace("4bf92f35")
        ('https://jaeger/trace/4bf92f3577b34da6', '')
        """
        text = str(trace_id)
        if not self.trace_url_template or not TRACE_ID.fullmatch(text):
            return ""
        return self.trace_url_template.replace("{trace_id}", quote(text, safe=""))

    def alert(self, view: AlertView) -> str:
        """The alert's page in the console (``<console_url>/alerts/<fingerprint>``), or ""."""
        if not self.console_url:
            return ""
        return f"{self.console_url.rstrip('/')}/alerts/{quote(view.fingerprint, safe='')}"


def unit_of(view: AlertView) -> str:
    """The record's ``unit``, else the signal's usual one (``SIGNAL_UNITS``), else "".

    >>> from dataclasses import replace
    >>> v = _example_view()
    >>> unit_of(v), unit_of(replace(v, signal="error.rate")), unit_of(replace(v, details={"unit": "calls/s"}))
    ('s', '%', 'calls/s')
    """
    return unit_for(view.signal, view.details.get("unit"))


def unit_for(signal: str, record_unit: Any = None) -> str:
    """The unit of a signal's values: the record's own ``unit`` if it has one, else ``SIGNAL_UNITS``."""
    if isinstance(record_unit, str) and record_unit:
        return redact(record_unit)
    return next((u for pattern, u in SIGNAL_UNITS if pattern.fullmatch(signal)), "")


def with_unit(value: Any, unit: str) -> str:
    """A value (or a band of them) with its unit; a share (``%``) is shown as a percentage.

    >>> with_unit(3.0264, "s"), with_unit(0.1818, "%"), with_unit({"high": 1.5}, "s"), with_unit(2, "a long phrase unit")
    ('3.026 s', '18.18 %', 'high=1.5 s', '2')
    """
    if isinstance(value, dict):
        return ", ".join(f"{redact(k)}={with_unit(v, unit)}" for k, v in value.items())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return fmt_number(value)
    if unit == "%":
        return f"{value * 100:.4g} %"
    if unit == "USD":
        return f"${value:.4g}"
    return f"{value:.4g} {unit}" if unit and len(unit) <= MAX_INLINE_UNIT else f"{value:.4g}"


def service_of(view: AlertView) -> str:
    return redact(view.labels.get("service.name") or "unknown service")


def title(view: AlertView) -> str:
    """Plain words: the runbook's title, else the signal's name."""
    return redact(view.runbook.title) if view.runbook else redact(view.signal)


def stage_lines(view: AlertView) -> list[str]:
    """``inference: 2.843 s vs 1.57 s (+1.273 s)``, the stages that moved most first (as the record orders them).

    >>> from dataclasses import replace
    >>> stage_lines(replace(_example_view(), details={"stages": [{"stage": "inference", "value": 2.84,
    ...     "expected": 1.57, "delta": 1.27}]}))
    ['inference: 2.84 s vs 1.57 s (+1.27 s)']
    """
    stages = view.details.get("stages")
    if not isinstance(stages, list):
        return []
    return [f"{redact(s.get('stage'))}: {with_unit(s.get('value'), 's')} vs {with_unit(s.get('expected'), 's')} "
            f"({'+' if (s.get('delta') or 0) >= 0 else '-'}{with_unit(abs(s.get('delta') or 0), 's')})"
            for s in stages[:MAX_STAGES] if isinstance(s, dict)]


def contributor_lines(view: AlertView) -> list[str]:
    """Per field, the label values behind the anomaly: ``app.tenant.id: tenant-004 (2, expected 0)``."""
    contributors = view.details.get("contributors")
    if not isinstance(contributors, dict):
        return []
    lines = []
    for field_name, top in list(contributors.items())[:MAX_LABELS]:
        if isinstance(top, list):
            values = ", ".join(f"{redact(c.get('value'))} ({fmt_number(c.get('window'))}, expected "
                               f"{fmt_number(c.get('expected'))})" for c in top[:MAX_CONTRIBUTORS] if isinstance(c, dict))
            lines.append(f"{redact(field_name)}: {values}")
    return lines


def started_at(view: AlertView) -> str:
    """The record's event time as RFC 3339 UTC (else the alert's opening time)."""
    t_ns = view.details.get("time_unix_nano")
    seconds = t_ns / 1e9 if isinstance(t_ns, (int, float)) and not isinstance(t_ns, bool) else view.opened_at
    return rfc3339(seconds)


def rfc3339(seconds: float) -> str:
    """Seconds since the epoch as RFC 3339 UTC, as PagerDuty and Alertmanager want them.

    >>> rfc3339(0)
    '1970-01-01T00:00:00Z'
    """
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def series_text(labels: dict[str, Any]) -> str:
    return ", ".join(f"{redact(k)}={redact(v)}" for k, v in list(labels.items())[:MAX_LABELS]) or "-"


def summary(view: AlertView) -> str:
    """One line, redacted but not Slack-escaped (PagerDuty, console, Slack fallback after escaping)."""
    unit = unit_of(view)
    return SUMMARY.format(severity=view.severity.upper(), signal=redact(view.signal), value=with_unit(view.value, unit),
                          expected=with_unit(view.expected, unit), series=series_text(view.labels),
                          kind=redact(view.kind))


def mention(user_group: str) -> str:
    """``<!subteam^ID>``: the only place Slack mention syntax is produced, from a configured user group ID."""
    if not SLACK_USER_GROUP_ID.fullmatch(user_group):
        raise ValueError(f"not a Slack user group ID: {user_group!r}")
    return f"<!subteam^{user_group}>"


def is_web_url(url: str) -> bool:
    """A runbook link a browser can open; without a base URL a runbook is a repository path, shown as text."""
    return url.startswith(("https://", "http://"))


def header(view: AlertView) -> str:
    """Severity, what is wrong in plain words and the service; redacted but not escaped (Slack's header block is
    plain text)."""
    return HEADER.format(severity=view.severity.upper(), title=title(view), service=service_of(view))[:150]


def slack_text(view: AlertView, mentions: str = "") -> str:
    """The notification fallback text (what a phone shows), after the mention of the paged user group if any."""
    return f"{mentions} {neutralise_mrkdwn(escape_slack(summary(view)))}".lstrip()


def state_line(view: AlertView) -> str:
    by = f" by {for_slack(view.resolved_by)}" if view.resolved_by else ""
    line = STATE_LINE[view.state].format(level=view.level, acked_by=for_slack(view.acked_by or "?"), by=by)
    return line + (" — flapping, held open" if view.flapping and view.state != "resolved" else "")


def slack_blocks(view: AlertView, mentions: str = "", links: PageLinks = PageLinks()) -> list[dict[str, Any]]:
    """Block Kit: header (plain words, service), who is paged, seen vs expected with units, the stage breakdown and
    contributors, labels, traces (linked), runbook + first steps, Acknowledge / Resolve / Silence 1 h / console."""
    unit = unit_of(view)
    fields = [
        f"*Severity*\n{SEVERITY_EMOJI.get(view.severity, '')} {escape_slack(view.severity)}",
        f"*State*\n{state_line(view)}",
        f"*Seen*\n{for_slack(with_unit(view.value, unit))}",
        f"*Expected*\n{for_slack(with_unit(view.expected, unit))}",
        f"*Score*\n{for_slack(fmt_number(view.score))}",
        f"*Records*\n{view.count}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header(view)}},
        *([_mrkdwn_section(PAGED_LINE.format(mention=mentions))] if mentions else []),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": about_line(view, unit)}]},
    ]
    stages = stage_lines(view)
    if stages:
        blocks.append(_mrkdwn_section("*Where the time went* (window vs baseline)\n" + "\n".join(
            f"• {for_slack(line)}" for line in stages)))
    contributors = contributor_lines(view)
    if contributors:
        blocks.append(_mrkdwn_section("*Contributors* (in the window, vs expected)\n" + "\n".join(
            f"• {for_slack(line)}" for line in contributors)))
    blocks.append(_mrkdwn_section("*Series*\n" + ("\n".join(
        f"• {code_span(k)} = {code_span(v)}" for k, v in list(view.labels.items())[:MAX_LABELS]) or "-")))
    if view.exemplars:
        ids = ", ".join(_trace_link(e, links) for e in view.exemplars[:MAX_EXEMPLARS])
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Traces: {ids}"}]})
    if view.runbook:
        steps = "\n".join(f"{i}. {escape_slack(s)}" for i, s in enumerate(view.runbook.first_steps[:MAX_STEPS], 1))
        name = escape_slack(view.runbook.title)
        link = f"<{view.runbook.url}|{name}>" if is_web_url(view.runbook.url) else \
            f"{name} (`{escape_slack(view.runbook.url)}`)"
        blocks.append(_mrkdwn_section(f"*Runbook:* {link}\n{steps}".strip()[:3000]))
    buttons: list[dict[str, Any]] = []
    if view.state != "resolved":
        if view.state != "acknowledged":
            buttons.append(_button(ACK_ACTION, "Acknowledge", view, style="primary"))
        buttons += [_button(RESOLVE_ACTION, "Resolve", view), _button(SILENCE_ACTION, "Silence 1 h", view)]
    console = links.alert(view)
    if console:
        buttons.append({"type": "button", "action_id": "inferwatch_console", "url": console,
                        "text": {"type": "plain_text", "text": "Open in console"}})
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                    "text": f"fingerprint {code_span(view.fingerprint)}"}]})
    return blocks


def about_line(view: AlertView, unit: str) -> str:
    """Signal, kind, detector and since when; a unit too long to follow every number is named here."""
    line = f"{code_span(view.signal)} · {for_slack(view.kind)} · {for_slack(view.detector)} · since {started_at(view)}"
    return line + (f" · unit: {for_slack(unit)}" if len(unit) > MAX_INLINE_UNIT else "")


def _button(action_id: str, text: str, view: AlertView, style: str = "") -> dict[str, Any]:
    button = {"type": "button", "action_id": action_id, "value": button_value(view),
              "text": {"type": "plain_text", "text": text}}
    return {**button, "style": style} if style else button


def _trace_link(trace_id: Any, links: PageLinks) -> str:
    """A trace id as a Slack link when a template is set (the id is checked to look like one), else a code span."""
    url = links.trace(trace_id)
    return f"<{url}|{escape_slack(str(trace_id))}>" if url else code_span(trace_id)


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


def pagerduty_trigger(view: AlertView, links: PageLinks = PageLinks()) -> dict[str, Any]:
    """The properties of an Events API v2 trigger (for ``EventsApiV2Client.send_event``, without dedup_key): summary
    in plain words, ``timestamp`` (the record's event time), ``component`` (the model), ``group`` (the service),
    ``class`` (the kind), details with units, stages and contributors, links to the runbook, the console and traces."""
    unit = unit_of(view)
    out_links = [{"href": view.runbook.url, "text": f"Runbook: {redact(view.runbook.title)}"}] \
        if view.runbook and is_web_url(view.runbook.url) else []
    console = links.alert(view)
    if console:
        out_links.append({"href": console, "text": "inferwatch console"})
    out_links += [{"href": url, "text": f"Trace {redact(e)}"}
                  for e in view.exemplars[:MAX_EXEMPLARS] if (url := links.trace(e))]
    details: dict[str, Any] = {
        "fingerprint": view.fingerprint, "kind": redact(view.kind), "signal": redact(view.signal),
        "detector": redact(view.detector), "value": with_unit(view.value, unit),
        "expected": with_unit(view.expected, unit), "unit": unit, "score": fmt_number(view.score),
        "labels": {redact(k): redact(v) for k, v in view.labels.items()},
        "exemplars": [redact(e) for e in view.exemplars[:MAX_EXEMPLARS]]}
    for name, lines in (("stages", stage_lines(view)), ("contributors", contributor_lines(view))):
        if lines:
            details[name] = lines
    if view.runbook:
        details["runbook"] = view.runbook.url or view.runbook.title
        details["first_steps"] = view.runbook.first_steps[:MAX_STEPS]
    payload = {"summary": f"{header(view)}: {summary(view)}"[:1024], "source": redact(view.labels.get(
        "service.name") or "inferwatch"), "severity": PAGERDUTY_SEVERITY.get(view.severity, "warning"),
        "timestamp": started_at(view), "group": service_of(view), "class": redact(view.kind),
        "custom_details": details}
    component = view.labels.get(links.component_label) if links.component_label else None
    if component:
        payload["component"] = redact(component)
    event: dict[str, Any] = {"payload": payload, "links": out_links, "client": "inferwatch"}
    if console:
        event["client_url"] = console
    return event


def _example_view(**fields: Any) -> AlertView:
    """The alert the doctests render."""
    base: dict[str, Any] = dict(fingerprint="fp1", episode=1, state="firing", severity="critical", level=0,
                                kind="threshold", signal="gen_ai.client.operation.duration", detector="latency",
                                labels={"service.name": "chat"}, value=3.0, expected=1.5, score=0.97, exemplars=[],
                                count=1, opened_at=0.0, acked_by="", resolved_by="", flapping=False,
                                dedup_key="inferwatch/fp1/1", runbook=None)
    return AlertView(**{**base, **fields})


# ------------------------------------------------------------------------------------------------------ email

EMAIL_SUBJECT = "[{state}] {header}"
EMAIL_EVENT_LINE = {"firing": "Paged.", "escalated": "Escalated to level {level}: nobody acknowledged in time.",
                    "acknowledged": "Acknowledged by {actor}.", "refired": "Fired again: the acknowledgement expired.",
                    "resolved": "Resolved by {actor}."}


def email_subject(view: AlertView) -> str:
    """``[FIRING] CRITICAL: LLM latency is high · checkout``; one line (a header cannot be split by record text)."""
    return EMAIL_SUBJECT.format(state=view.state.upper(), header=header(view))


def email_text(view: AlertView, event: str, actor: str, links: PageLinks = PageLinks()) -> str:
    """The plain-text body: what happened, seen vs expected, stages, contributors, series, traces, runbook, links."""
    unit = unit_of(view)
    lines = [EMAIL_EVENT_LINE.get(event, event).format(level=view.level, actor=redact(actor)), "",
             summary(view), "",
             f"Seen:     {with_unit(view.value, unit)}", f"Expected: {with_unit(view.expected, unit)}",
             f"Score:    {fmt_number(view.score)}", f"Since:    {started_at(view)}",
             f"Signal:   {redact(view.signal)} ({redact(view.kind)}, {redact(view.detector)})"]
    if len(unit) > MAX_INLINE_UNIT:
        lines.append(f"Unit:     {unit}")
    for name, found in (("Where the time went (window vs baseline)", stage_lines(view)),
                        ("Contributors (in the window, vs expected)", contributor_lines(view))):
        if found:
            lines += ["", name] + [f"  - {line}" for line in found]
    lines += ["", "Series"] + [f"  {redact(k)} = {redact(v)}" for k, v in list(view.labels.items())[:MAX_LABELS]]
    if view.exemplars:
        lines += ["", "Traces"] + [f"  {links.trace(e) or redact(e)}" for e in view.exemplars[:MAX_EXEMPLARS]]
    if view.runbook:
        lines += ["", f"Runbook: {redact(view.runbook.title)} ({view.runbook.url})"]
        lines += [f"  {i}. {redact(s)}" for i, s in enumerate(view.runbook.first_steps[:MAX_STEPS], 1)]
    console = links.alert(view)
    if console:
        lines += ["", f"Acknowledge, resolve or silence: {console}"]
    lines += ["", f"fingerprint {view.fingerprint}, episode {view.episode}"]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------- Alertmanager webhook

#: Alertmanager's "zero" endsAt of a firing alert
AM_ZERO_TIME = "0001-01-01T00:00:00Z"
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def label_name(key: Any) -> str:
    """A Prometheus label name (what Alertmanager receivers expect): ``service.name`` -> ``service_name``.

    >>> label_name("service.name"), label_name("9lives")
    ('service_name', '_9lives')
    """
    name = _LABEL_NAME.sub("_", redact(key)) or "_"
    return f"_{name}" if name[0].isdigit() else name


def alertmanager_webhook(view: AlertView, event: str, receiver: str, links: PageLinks = PageLinks(),
                         now: float = 0.0) -> dict[str, Any]:
    """Alertmanager's webhook JSON (version 4) for one alert, so receivers written for Alertmanager work unchanged;
    a resolved alert ends ``now``.

    >>> body = alertmanager_webhook(_example_view(), "firing", "ops")
    >>> body["version"], body["status"], body["alerts"][0]["labels"]["alertname"], body["alerts"][0]["endsAt"]
    ('4', 'firing', 'gen_ai.client.operation.duration', '0001-01-01T00:00:00Z')
    """
    status = "resolved" if event == "resolved" else "firing"
    unit = unit_of(view)
    labels = {label_name(k): redact(v) for k, v in view.labels.items()}
    labels.update(alertname=redact(view.runbook.id if view.runbook else view.signal), severity=redact(view.severity),
                  kind=redact(view.kind), signal=redact(view.signal), detector=redact(view.detector))
    annotations = {"summary": header(view), "description": summary(view), "value": with_unit(view.value, unit),
                   "expected": with_unit(view.expected, unit), "inferwatch_event": event}
    if view.runbook and is_web_url(view.runbook.url):
        annotations["runbook_url"] = view.runbook.url
    for name, found in (("stages", stage_lines(view)), ("contributors", contributor_lines(view))):
        if found:
            annotations[name] = "; ".join(found)
    if view.exemplars:
        annotations["traces"] = " ".join(links.trace(e) or redact(e) for e in view.exemplars[:MAX_EXEMPLARS])
    ends_at = rfc3339(now) if status == "resolved" else AM_ZERO_TIME
    alert = {"status": status, "labels": labels, "annotations": annotations, "startsAt": rfc3339(view.opened_at),
             "endsAt": ends_at, "generatorURL": links.alert(view), "fingerprint": view.fingerprint}
    return {"version": "4", "groupKey": f'{{}}:{{fingerprint="{view.fingerprint}"}}', "truncatedAlerts": 0,
            "status": status, "receiver": redact(receiver), "groupLabels": {"alertname": labels["alertname"]},
            "commonLabels": labels, "commonAnnotations": annotations,
            "externalURL": links.console_url.rstrip("/"), "alerts": [alert]}
