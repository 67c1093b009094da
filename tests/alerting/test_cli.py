"""``inferwatch alerts|silence`` against real Redis, through the same argparse wiring the ``inferwatch`` entry uses."""
from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from alerting.cli import COMMANDS, parse_duration
from alerting.service import AlertingService
from streams.config import load_settings

from tests.alerting.conftest import anomaly

FP = "fp-latency-checkout"


@pytest.fixture
def cli(redis_url, redis_client, tmp_path):
    settings = load_settings(env={"INFERWATCH_REDIS_URL": redis_url})
    settings = dataclasses.replace(settings, alerting=dataclasses.replace(
        settings.alerting, outbox_path=str(tmp_path / "outbox.jsonl"), runbooks_dir=str(tmp_path / "none")))
    parser = argparse.ArgumentParser(prog="inferwatch")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return args.run(args, settings)

    run.settings = settings
    run.outbox = tmp_path / "outbox.jsonl"
    return run


def test_ack_resolve_and_show_print_the_history(cli, capsys):
    service = AlertingService.from_settings(cli.settings.alerting, cli.settings.redis.url)
    service.ingest(anomaly(0))
    service.tick()
    assert cli("alerts", "list") == 0
    assert FP in capsys.readouterr().out
    assert cli("alerts", "ack", FP, "--by", "alice") == 0
    assert cli("alerts", "ack", FP) == 1  # already acknowledged
    assert cli("alerts", "resolve", FP, "--by", "bob") == 0
    capsys.readouterr()
    assert cli("alerts", "show", FP) == 0
    out = capsys.readouterr().out
    history = out.split("history:")[1].split("deliveries:")[0]
    events = [line.split()[2:4] for line in history.strip().splitlines()]  # date, time, actor, event, ...
    assert [e[1] for e in events] == ["opened", "firing", "paged", "delivery-sent", "acknowledged",
                                      "delivery-sent", "resolved", "delivery-sent"]
    assert ["cli:alice", "acknowledged"] in events and ["cli:bob", "resolved"] in events
    sent = [json.loads(line) for line in cli.outbox.read_text().splitlines()]
    assert [(m["action"], m["event"]) for m in sent] == [("send", "firing"), ("update", "acknowledged"),
                                                          ("resolve", "resolved")]
    assert cli("alerts", "show", "nope") == 1
    service.close()


def test_silence_add_list_expire(cli, capsys):
    assert cli("silence", "add", "--match", "service.name=checkout", "--match", "kind=~thresh.*", "--for", "2h",
               "--comment", "deploy 42") == 0
    silence_id = capsys.readouterr().out.split()[1]
    service = AlertingService.from_settings(cli.settings.alerting, cli.settings.redis.url)
    service.ingest(anomaly(0))
    service.tick()
    assert not cli.outbox.exists()  # silenced: nothing paged
    assert cli("silence", "list") == 0
    assert "deploy 42" in capsys.readouterr().out
    assert cli("silence", "expire", silence_id) == 0
    service.tick()
    assert '"action": "send"' in cli.outbox.read_text()
    assert cli("silence", "expire", "nope") == 1
    assert cli("silence", "add", "--match", "kind=~(", "--for", "1h", "--comment", "x") == 2  # bad regex
    service.close()


def test_alerts_test_sends_a_synthetic_alert_through_the_pipeline(cli, capsys):
    assert cli("alerts", "test", "--target", "pagerduty", "--wait", "10") == 0
    out = capsys.readouterr().out
    assert "delivered" in out
    sent = [json.loads(line) for line in cli.outbox.read_text().splitlines()]
    assert [(m["target"], m["action"]) for m in sent] == [("pagerduty", "send"), ("pagerduty", "resolve")]
    assert cli("alerts", "test", "--target", "nope") == 2


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("15", 15)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "-1h", "0"])
def test_bad_durations(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)
