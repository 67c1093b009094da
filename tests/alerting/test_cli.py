"""``inferwatch alerts|silence`` against real Redis, through the same argparse wiring the ``inferwatch`` entry uses."""
from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from inferwatch.alerting.cli import COMMANDS
from inferwatch.alerting.command_line import UserError
from inferwatch.alerting.service import AlertingService
from inferwatch.streams.config import load_settings

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
    with pytest.raises(SystemExit):  # bad regex: an argparse error (exit 2), see tests/streams/test_cli.py
        cli("silence", "add", "--match", "kind=~(", "--for", "1h", "--comment", "x")
    service.close()


def test_alerts_test_sends_a_synthetic_alert_through_the_pipeline(cli, capsys):
    assert cli("alerts", "test", "--target", "pagerduty", "--wait", "10") == 0
    out = capsys.readouterr().out
    assert "delivered" in out
    sent = [json.loads(line) for line in cli.outbox.read_text().splitlines()]
    assert [(m["target"], m["action"]) for m in sent] == [("pagerduty", "send"), ("pagerduty", "resolve")]
    with pytest.raises(UserError, match="unknown target"):
        cli("alerts", "test", "--target", "nope")


def test_amtool_matchers_select_what_a_silence_mutes_and_list_shows_them_as_written(cli, capsys):
    assert cli("silence", "add", 'service.name="checkout"', 'kind=~"thresh.*|rate"', "--for", "1h30m",
               "--comment", "deploy 43") == 0
    capsys.readouterr()
    service = AlertingService.from_settings(cli.settings.alerting, cli.settings.redis.url)
    service.ingest(anomaly(0))
    service.ingest(anomaly(0, fingerprint="fp-other", labels={"service.name": "search"}))
    service.tick()
    sent = [json.loads(line) for line in cli.outbox.read_text().splitlines()]
    assert [m["fingerprint"] for m in sent if m["action"] == "send"] == ["fp-other"]  # checkout muted
    capsys.readouterr()  # the console notifier's page
    assert cli("silence", "list", "-o", "json") == 0
    [silence] = json.loads(capsys.readouterr().out)
    assert silence["matchers"] == ['service.name="checkout"', 'kind=~"thresh.*|rate"']
    assert silence["status"] == "active" and silence["comment"] == "deploy 43"
    assert cli("silence", "list") == 0
    assert 'service.name="checkout", kind=~"thresh.*|rate"' in capsys.readouterr().out
    service.close()


@pytest.mark.parametrize("matchers, shown", [
    ([], {FP, "fp-other"}),
    (['service.name="checkout"'], {FP}),
    (["service.name!=checkout"], {"fp-other"}),
    (['kind=~"rate|threshold"', 'severity!~"crit.*"'], {FP}),
    (['{service.name=~"check.*|search", severity="critical"}'], {"fp-other"}),
    (["detector=nope"], set()),
])
def test_alerts_list_takes_amtool_matchers_and_prints_json(cli, capsys, matchers, shown):
    service = AlertingService.from_settings(cli.settings.alerting, cli.settings.redis.url)
    service.ingest(anomaly(0))
    service.ingest(anomaly(0, fingerprint="fp-other", labels={"service.name": "search"}, severity="critical"))
    service.close()
    capsys.readouterr()
    assert cli("alerts", "list", *matchers, "-o", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["fingerprint"] for row in rows} == shown
    assert all(set(row) >= {"state", "severity", "signal", "series", "last_seen"} for row in rows)


def test_alerts_show_json_carries_history_and_deliveries(cli, capsys):
    service = AlertingService.from_settings(cli.settings.alerting, cli.settings.redis.url)
    service.ingest(anomaly(0))
    service.tick()
    service.close()
    capsys.readouterr()
    assert cli("alerts", "show", FP, "-o", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["fingerprint"] == FP and shown["series"]["service.name"] == "checkout"
    assert [h["event"] for h in shown["history"]][:2] == ["opened", "firing"]
    assert {d["status"] for d in shown["deliveries"]} == {"sent"}


@pytest.mark.parametrize("argv, says", [
    (["silence", "add", "--for", "1h", "--comment", "x"], "at least one matcher"),
    (["silence", "add", "env=a", "env!=b", "--for", "1h", "--comment", "x"], "more than one matcher"),
])
def test_silence_add_refuses_what_it_cannot_store(cli, argv, says):
    with pytest.raises(UserError, match=says):
        cli(*argv)
