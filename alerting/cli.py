"""``inferwatch alerts …``, ``inferwatch silence …`` and ``inferwatch slack-actions``: humans acting on alerts.

Every command works on the same Redis state as the worker; ``ack``/``resolve``/``test`` also run one engine tick so
the resulting messages go out at once (safe next to running workers: deliveries are claimed atomically).
"""
from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from redis.backoff import NoBackoff
from redis.retry import Retry

from inferwatch.alerting.alert import Alert
from inferwatch.alerting.command_line import UserError, add_output_option, emit
from inferwatch.alerting.config import AlertingSettings, CommandSettings, LevelSettings, PolicySettings, RouteSettings
from inferwatch.alerting.matchers import (Matcher, match_labels, matcher_spec, matches, parse_matcher_text, parse_matchers,
                               spec_text)
from inferwatch.alerting.redact import redact
from inferwatch.alerting.service import AlertingService
from inferwatch.alerting.silences import Silence
from inferwatch.alerting.slack_actions import make_server, serve_forever
from inferwatch.detectors.contract import DEFAULT_SEVERITY, SEVERITIES  # leaf modules: they import no detector
from inferwatch.detectors.durations import parse_duration, positive_duration

TEST_DETECTOR = "inferwatch-alerts-test"
TEST_POLICY = "__alerts_test__"
#: a command run by a person fails at once when Redis is unreachable, instead of retrying with backoff
CLI_REDIS_RETRY = Retry(NoBackoff(), 0)


def parse_label(text: str) -> tuple[str, str]:
    """``key=value``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, value


def _flat(groups: list[tuple[Matcher, ...]] | None) -> list[Matcher]:
    """The matchers of every ``MATCHER`` argument (each may hold several)."""
    return [m for group in groups or () for m in group]


def _actor(args: argparse.Namespace) -> str:
    return f"cli:{args.by or getpass.getuser()}"


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _service(settings: CommandSettings, alerting: AlertingSettings | None = None) -> AlertingService:
    return AlertingService.from_settings(alerting or settings.alerting, settings.redis.url,
                                         redis_options={**settings.redis.client_options(), "retry": CLI_REDIS_RETRY})


def _alert_row(a: Alert) -> dict[str, Any]:
    """What ``alerts list -o json`` gives per alert: the table's columns, redacted as the table is."""
    r = a.record
    return {"fingerprint": a.fingerprint, "state": a.state, "muted_by": a.muted_by, "severity": a.severity,
            "level": a.level, "last_seen": _when(a.last_seen), "kind": redact(r.get("kind", "")),
            "signal": redact(r.get("signal", "")), "detector": redact(r.get("detector", "")),
            "series": {redact(k): redact(v) for k, v in a.series.items()}}


#: the help of a MATCHER argument, wherever one is taken
MATCHER_HELP = ('label matcher as amtool writes it: key=value, key!=value, key=~"regex", key!~"regex" '
                '(several per argument, separated by spaces or commas; all must match)')


class AlertsCommand:
    @staticmethod
    def add_parser(subparsers: argparse._SubParsersAction) -> None:
        parser = subparsers.add_parser("alerts", help="list, inspect, acknowledge, resolve and test alerts")
        sub = parser.add_subparsers(dest="alerts_command", required=True)
        p = sub.add_parser("list", help="alerts by last change (active only unless --all), optionally filtered")
        p.add_argument("matchers", nargs="*", type=parse_matcher_text, metavar="MATCHER", help=MATCHER_HELP)
        p.add_argument("--all", action="store_true", help="include resolved alerts")
        p.add_argument("--limit", type=int, default=100, help="look at this many most recent alerts (default 100)")
        add_output_option(p)
        p.set_defaults(run=AlertsCommand.list)
        p = sub.add_parser("show", help="one alert with its full audit history")
        p.add_argument("fingerprint", help="the alert's fingerprint (see alerts list)")
        add_output_option(p)
        p.set_defaults(run=AlertsCommand.show)
        for name, fn in (("ack", AlertsCommand.ack), ("resolve", AlertsCommand.resolve)):
            p = sub.add_parser(name, help=f"{'acknowledge' if name == 'ack' else 'resolve'} an alert")
            p.add_argument("fingerprint", help="the alert's fingerprint (see alerts list)")
            p.add_argument("--by", help="who (default: your user name)")
            p.set_defaults(run=fn)
        p = sub.add_parser("test", help="send a synthetic alert through the whole pipeline, then resolve it")
        p.add_argument("--target", action="append", default=[], help="page these targets (default: the routing)")
        p.add_argument("--severity", choices=SEVERITIES, default=DEFAULT_SEVERITY,
                       help=f"severity of the synthetic alert (default {DEFAULT_SEVERITY})")
        p.add_argument("--label", action="append", type=parse_label, default=[], help="extra series label k=v")
        p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for deliveries (default 30)")
        p.add_argument("--by", help="who (default: your user name)")
        p.set_defaults(run=AlertsCommand.test)

    @staticmethod
    def list(args: argparse.Namespace, settings: CommandSettings) -> int:
        wanted = _flat(args.matchers)
        with _service(settings) as service:
            alerts = [a for a in service.store.recent(args.limit)
                      if (args.all or a.active) and matches(wanted, {**match_labels(a.record), **a.series})]

        def table() -> None:
            print(f"{'STATE':<13}{'SEVERITY':<10}{'LVL':<4}{'LAST SEEN (UTC)':<21}{'SIGNAL':<36}FINGERPRINT / SERIES")
            for a in alerts:
                muted = " (muted)" if a.muted_by and a.active else ""
                series = ", ".join(f"{redact(k)}={redact(v)}" for k, v in a.series.items())
                print(f"{a.state + muted:<13}{a.severity:<10}{a.level:<4}{_when(a.last_seen):<21}"
                      f"{redact(a.record.get('signal', ''))[:35]:<36}{a.fingerprint}  {series}")
            if not alerts:
                print("no alerts" if args.all else "no active alerts (use --all for resolved ones)")
        emit(args, [_alert_row(a) for a in alerts], table)
        return 0

    @staticmethod
    def show(args: argparse.Namespace, settings: CommandSettings) -> int:
        with _service(settings) as service:
            alert = service.store.load(args.fingerprint)
            if alert is None:
                print(f"no alert with fingerprint {args.fingerprint!r}", file=sys.stderr)
                return 1
            history = service.store.audit(alert.fingerprint)
            deliveries = service.outbox.entries(alert.fingerprint)
        r = alert.record

        def table() -> None:
            print(f"fingerprint  {alert.fingerprint}\nstate        {alert.state}"
                  f"{' (flapping, held open)' if alert.flapping else ''}{'  muted by ' + alert.muted_by if alert.muted_by else ''}\n"
                  f"severity     {alert.severity}\nepisode      {alert.episode} (opened {_when(alert.opened_at)})\n"
                  f"policy       {alert.policy or '-'} level {alert.level} round {alert.round}\n"
                  f"runbook      {alert.runbook_id or '-'}\n"
                  f"signal       {redact(r.get('kind'))} {redact(r.get('signal'))} "
                  f"value {redact(r.get('value'))} expected {redact(r.get('expected'))}\n"
                  f"series       {redact(alert.series)}\n"
                  f"records      {alert.count} (last {_when(alert.last_seen)})")
            print("\nhistory:")
            for line in history:
                print(f"  {_when(line['t'])}  {redact(line['actor']):<22} {line['event']:<18} "
                      f"{redact(line.get('detail', ''))}")
            print("\ndeliveries:")
            for e in deliveries:
                print(f"  {e.key:<60} {e.action:<8} {e.event:<13} {e.status:<8} attempts {e.attempts}"
                      f"{'  ' + e.error if e.error and e.status != 'sent' else ''}")
        document = {
            **_alert_row(alert), "flapping": alert.flapping, "episode": alert.episode,
            "opened_at": _when(alert.opened_at), "policy": alert.policy, "round": alert.round,
            "runbook": alert.runbook_id, "value": redact(r.get("value")), "expected": redact(r.get("expected")),
            "records": alert.count,
            "history": [{"at": _when(line["t"]), "actor": redact(line["actor"]), "event": line["event"],
                         "detail": redact(line.get("detail", ""))} for line in history],
            "deliveries": [{"key": e.key, "target": e.target, "action": e.action, "event": e.event,
                            "status": e.status, "attempts": e.attempts, "error": redact(e.error)} for e in deliveries],
        }
        emit(args, document, table)
        return 0

    @staticmethod
    def ack(args: argparse.Namespace, settings: CommandSettings) -> int:
        return AlertsCommand._act(args, settings, "acknowledge")

    @staticmethod
    def resolve(args: argparse.Namespace, settings: CommandSettings) -> int:
        return AlertsCommand._act(args, settings, "resolve")

    @staticmethod
    def _act(args: argparse.Namespace, settings: CommandSettings, what: str) -> int:
        with _service(settings) as service:
            if not getattr(service, what)(args.fingerprint, _actor(args)):
                alert = service.store.load(args.fingerprint)
                why = "no such alert" if alert is None else f"it is {alert.state}"
                print(f"cannot {what} {args.fingerprint}: {why}", file=sys.stderr)
                return 1
            service.tick()
            print(f"{what}d {args.fingerprint}" if what == "resolve" else f"acknowledged {args.fingerprint}")
            return 0

    @staticmethod
    def test(args: argparse.Namespace, settings: CommandSettings) -> int:
        alerting = settings.alerting
        if args.target:
            unknown = [t for t in args.target if t not in alerting.targets]
            if unknown:
                raise UserError(f"unknown target(s): {', '.join(unknown)} (known: {', '.join(alerting.targets)})")
            alerting = dataclasses.replace(
                alerting, policies={**alerting.policies, TEST_POLICY: PolicySettings([LevelSettings(args.target)])},
                routes=[RouteSettings({"detector": TEST_DETECTOR}, TEST_POLICY), *alerting.routes])
        fingerprint = f"inferwatch-test-{uuid.uuid4().hex[:10]}"
        record = {"fingerprint": fingerprint, "time_unix_nano": time.time_ns(), "kind": "test",
                  "signal": "inferwatch.alerts_test", "labels": {"service.name": "inferwatch-test", **dict(args.label)},
                  "value": 1, "expected": 0, "score": 1.0, "severity": args.severity, "detector": TEST_DETECTOR,
                  "exemplars": []}
        with _service(settings, alerting) as service:
            service.ingest(record)
            ok = _settle(service, fingerprint, args.wait)
            service.resolve(fingerprint, _actor(args))
            ok = _settle(service, fingerprint, args.wait) and ok
            for e in service.outbox.entries(fingerprint):
                print(f"{e.target:<20} {e.action:<8} {e.status:<8} attempts {e.attempts}"
                      f"{'  ' + e.error if e.error and e.status != 'sent' else ''}")
            print(f"test alert {fingerprint}: {'delivered' if ok else 'NOT fully delivered'}"
                  f" (details: inferwatch alerts show {fingerprint})")
            return 0 if ok else 1


def _settle(service: AlertingService, fingerprint: str, wait_s: float) -> bool:
    """Tick until every outbox entry of the alert is settled; True if all were sent (or skipped)."""
    deadline = time.monotonic() + wait_s
    while True:
        service.tick()
        entries = service.outbox.entries(fingerprint)
        if entries and all(e.status in ("sent", "failed", "skipped") for e in entries):
            return all(e.status != "failed" for e in entries)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


class SilenceCommand:
    @staticmethod
    def add_parser(subparsers: argparse._SubParsersAction) -> None:
        parser = subparsers.add_parser("silence", help="mute pages of matching alerts for a while")
        sub = parser.add_subparsers(dest="silence_command", required=True)
        p = sub.add_parser("add", help="add a silence (or a maintenance window with --starts-in)")
        p.add_argument("matchers", nargs="*", type=parse_matcher_text, metavar="MATCHER", help=MATCHER_HELP)
        p.add_argument("--match", action="append", type=parse_matcher_text, help="a MATCHER given as an option "
                       "(the same syntax; repeat for AND)")
        p.add_argument("--for", dest="duration", type=positive_duration, required=True,
                       help="how long it lasts, e.g. 30m, 2h, 1h30m, 1w")
        p.add_argument("--starts-in", type=parse_duration, help="start later, e.g. 2h (a maintenance window)")
        p.add_argument("--comment", required=True, help="why, and who to ask (shown with the silence)")
        p.add_argument("--by", help="who (default: your user name)")
        p.set_defaults(run=SilenceCommand.add)
        p = sub.add_parser("list", help="active and upcoming silences (--all: also expired)")
        p.add_argument("--all", action="store_true", help="include expired silences")
        add_output_option(p)
        p.set_defaults(run=SilenceCommand.list)
        p = sub.add_parser("expire", help="end a silence now")
        p.add_argument("id", help="the silence's id (see silence list)")
        p.set_defaults(run=SilenceCommand.expire)

    @staticmethod
    def add(args: argparse.Namespace, settings: CommandSettings) -> int:
        wanted = _flat(args.matchers) + _flat(args.match)
        if not wanted:
            raise UserError('a silence needs at least one matcher, e.g. service.name="checkout"')
        try:
            spec = matcher_spec(wanted)
        except ValueError as exc:
            raise UserError(f"invalid silence: {exc}") from None
        with _service(settings) as service:
            start = time.time() + (args.starts_in or 0)
            try:
                silence = service.add_silence(spec, start, start + args.duration, args.comment, _actor(args))
            except ValueError as exc:
                raise UserError(f"invalid silence: {exc}") from None
            print(f"silence {silence.id} until {_when(silence.ends_at)} UTC")
            return 0

    @staticmethod
    def list(args: argparse.Namespace, settings: CommandSettings) -> int:
        with _service(settings) as service:
            now = time.time()
            shown = [s for s in service.silences.all() if args.all or s.ends_at > now]

        def status(s: Silence) -> str:
            return "active" if s.active(now) else ("expired" if s.ends_at <= now else "upcoming")

        def table() -> None:
            for s in shown:
                print(f"{s.id}  {status(s):<8} {_when(s.starts_at)} -> {_when(s.ends_at)}  {spec_text(s.matchers)}  "
                      f"by {s.created_by}: {s.comment}")
            if not shown:
                print("no silences")
        emit(args, [{"id": s.id, "status": status(s), "starts_at": _when(s.starts_at), "ends_at": _when(s.ends_at),
                     "matchers": [str(m) for m in parse_matchers(s.matchers)],
                     "created_by": s.created_by, "comment": s.comment} for s in shown], table)
        return 0

    @staticmethod
    def expire(args: argparse.Namespace, settings: CommandSettings) -> int:
        with _service(settings) as service:
            if not service.expire_silence(args.id):
                print(f"no silence {args.id!r}", file=sys.stderr)
                return 1
            print(f"expired silence {args.id}")
            return 0


class SlackActionsCommand:
    @staticmethod
    def add_parser(subparsers: argparse._SubParsersAction) -> None:
        p = subparsers.add_parser("slack-actions", help="serve the Slack interactivity endpoint (Ack/Resolve buttons)")
        p.add_argument("--host", help="default: alerting.slack.actions_host")
        p.add_argument("--port", type=int, help="default: alerting.slack.actions_port")
        p.set_defaults(run=SlackActionsCommand.run)

    @staticmethod
    def run(args: argparse.Namespace, settings: CommandSettings) -> int:
        slack = settings.alerting.slack
        if not slack.signing_secret:
            raise UserError("slack-actions: set SLACK_SIGNING_SECRET (alerting.slack.signing_secret) first")
        service = _service(settings)
        server = make_server(service, slack.signing_secret, args.host or slack.actions_host,
                             args.port or slack.actions_port)
        host, port = server.server_address[:2]
        print(f"slack-actions: listening on http://{host}:{port}/ (put it behind HTTPS as the app's Request URL)",
              flush=True)
        serve_forever(server, service)
        return 0


#: the commands this package adds to ``inferwatch`` (streams.cli registers them)
COMMANDS: list = [AlertsCommand, SilenceCommand, SlackActionsCommand]
