"""One redaction and escaping layer for everything that leaves: table-driven over a corpus of secrets and injection
strings, first on the functions, then through the real engine to every channel (the fake Slack and PagerDuty servers'
request bodies, the console stream, the outbox file, the log records)."""
from __future__ import annotations

import io
import json
import logging
from typing import Any, Iterator

import pytest

from inferwatch.alerting.config import LevelSettings, PolicySettings, TargetSettings
from inferwatch.alerting.notifiers import ConsoleNotifier, build_notifiers
from inferwatch.alerting.service import AlertingService
from inferwatch.alerting.redact import code_span, for_slack, install_log_redaction, redact, uninstall_log_redaction

from tests.alerting.conftest import T0, anomaly, slack_settings
from tests.alerting.secrets_corpus import INJECTIONS, SECRETS
from tests.alerting.test_cli import cli  # noqa: F401 (the fixture: the CLI on the session's Redis)

CHANNEL = "C0ALERTS"


def strings(value: Any) -> Iterator[str]:
    """Every string in a decoded request body (keys too), so escapes of the JSON encoding cannot hide a match."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings(v)


def leaked(fragments: list[str], *texts: str) -> list[str]:
    return [f for f in fragments if any(f in t for t in texts)]


@pytest.mark.parametrize("name, text, fragments", SECRETS, ids=[s[0] for s in SECRETS])
def test_redact_removes_every_secret(name, text, fragments):
    out = redact(text)
    assert not leaked(fragments, out), out
    assert "[" in out  # replaced by a placeholder, not silently dropped


def test_a_long_value_cut_inside_a_secret_does_not_show_its_first_half():
    """Only the start of a long value is scanned; many secrets there shrink it, so the cut's tail could be shown."""
    text = ("sk-" + "a" * 60 + " ") * 18 + "x" * 40 + " sk-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    out = redact(text)
    assert "bbbb" not in out and out.endswith("…") and len(out) <= 300


@pytest.mark.parametrize("name, text, forbidden", INJECTIONS, ids=[i[0] for i in INJECTIONS])
def test_slack_text_cannot_mention_link_format_or_forge_lines(name, text, forbidden):
    for out in (for_slack(text), code_span(text)):
        assert not leaked(forbidden, out), out
        assert "\n" not in out and "\x1b" not in out
    assert code_span(text).count("`") == 2


@pytest.mark.parametrize("text", ["gen_ai.client.operation.duration", "checkout-eu-1", "gpt-4o-mini", "max_tokens=512",
                                  "tokenizer: cl100k_base", "the basic plan", "author: ana", "12.5 ms"])
def test_ordinary_label_values_are_left_alone(text):
    assert redact(text) == text


@pytest.fixture
def redacted_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Log redaction installed as ``inferwatch`` installs it, for this test only."""
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        uninstall_log_redaction()


def test_log_records_are_redacted_arguments_and_tracebacks_alike(redacted_logs):
    log = logging.getLogger("inferwatch.test")
    for name, text, _ in SECRETS + INJECTIONS:
        log.warning("label %s=%r", name, text)
        try:
            raise ValueError(f"bad value {text}")
        except ValueError:
            log.exception("while handling %s", text)
    rendered = redacted_logs.text + "".join(r.getMessage() for r in redacted_logs.records)
    for name, _, fragments in SECRETS:
        assert not leaked(fragments, rendered), name
    assert "\x1b" not in rendered and "\u202e" not in rendered
    assert not [r for r in redacted_logs.records if "\n" in r.getMessage()]  # a message cannot forge a log line


def test_faust_s_log_formatter_prints_redacted_records_without_a_logging_error(redacted_logs, capsys):
    """The worker logs through Faust's (mode's) formatter, which re-applies a record's arguments: a redacted record
    must still format, or every Faust log line becomes a "--- Logging error ---" traceback on stderr."""
    from mode.utils.logging import ExtensionFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ExtensionFormatter(stream, fmt="%(levelname)s %(message)s"))
    log = logging.getLogger("inferwatch.test.mode")
    log.addHandler(handler)
    try:
        log.warning("Timer %s woke up too late, with a drift of %r, token=%s", "commit", 0.25, "sk-abcdefghij1234567890")
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == "WARNING Timer commit woke up too late, with a drift of 0.25, token=[secret]\n"
    assert "Logging error" not in capsys.readouterr().err


def test_no_secret_or_injection_reaches_any_channel(make_service, fake_slack, fake_pagerduty, tmp_path, redacted_logs):
    outbox, console = tmp_path / "outbox.jsonl", io.StringIO()
    settings = slack_settings(
        fake_slack, fake_pagerduty,
        targets={"slack": TargetSettings(type="slack", channel=CHANNEL), "pagerduty": TargetSettings(type="pagerduty"),
                 "console": TargetSettings(type="console")},
        policies={"default": PolicySettings(levels=[LevelSettings(["slack", "pagerduty", "console"])])},
        outbox_path=str(outbox))
    notifiers = {**build_notifiers(settings), "console": ConsoleNotifier("console", outbox, stream=console)}
    service = make_service(settings, notifiers=notifiers)
    corpus = SECRETS + INJECTIONS
    for i, (name, text, _) in enumerate(corpus):
        service.ingest(anomaly(0, fingerprint=f"fp-{i}", labels={"service.name": "checkout", "app.note": text,
                                                                 text[:40]: "as a label key"},
                               exemplars=[text], detector=text), now=T0)
    service.tick(T0)
    for i in range(len(corpus)):
        service.acknowledge(f"fp-{i}", f"cli:{corpus[i][1][:60]}", now=T0 + 1)  # the actor is shown too
    service.tick(T0 + 1)

    slack = "\x00".join(s for r in fake_slack.requests for s in strings(r["body"]))
    pagerduty = "\x00".join(s for r in fake_pagerduty.requests for s in strings(r["body"]))
    outbox_text = "\x00".join(s for line in outbox.read_text().splitlines() for s in strings(json.loads(line)))
    logs = redacted_logs.text
    # every alert reached every channel (Slack groups them into a thread: one message each, top level or reply)
    assert len(fake_slack.calls("chat.postMessage")) >= len(fake_pagerduty.incidents) == len(corpus)
    assert console.getvalue().count("\n") == 2 * len(corpus)
    for name, _, fragments in SECRETS:
        for channel, text in [("slack", slack), ("pagerduty", pagerduty), ("console", console.getvalue()),
                              ("outbox", outbox_text), ("logs", logs)]:
            assert not leaked(fragments, text), f"{name} leaked to {channel}"
    for name, _, forbidden in INJECTIONS:
        assert not leaked(forbidden, slack), f"{name} reached Slack"
    for channel in (console.getvalue(), outbox_text, pagerduty):
        assert "\x1b" not in channel and "\u202e" not in channel and "\u2028" not in channel


def test_cli_output_is_redacted(cli, capsys):
    """``inferwatch alerts list|show`` print labels, record values and the audit trail: redacted too."""
    service = AlertingService.from_settings(cli.settings.alerting, cli.settings.redis.url)
    labels = {f"l{i}": text for i, (_, text, _) in enumerate(SECRETS + INJECTIONS)}
    service.ingest(anomaly(0, fingerprint="fp-cli", labels=labels, value=SECRETS[1][1], expected=SECRETS[2][1]))
    service.tick()
    assert cli("alerts", "ack", "fp-cli", "--by", SECRETS[0][1]) == 0
    assert cli("alerts", "list") == 0 and cli("alerts", "show", "fp-cli") == 0
    out = capsys.readouterr().out
    assert "fp-cli" in out and "acknowledged" in out
    for name, _, fragments in SECRETS:
        assert not leaked(fragments, out), name
    assert "\x1b" not in out and "\u202e" not in out
    service.close()
