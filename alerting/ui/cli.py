"""``inferwatch ui [--host H] [--port P]``: serve the web console on the engine's Redis (docs/console.md)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from inferwatch.alerting.service import AlertingService
from inferwatch.alerting.slack_actions import serve_forever
from inferwatch.alerting.ui.auth import Access, refusal
from inferwatch.alerting.ui.server import make_server


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ui", help="serve the web console: alerts, silences, acknowledge and resolve")
    p.add_argument("--host", help="default: ui.host (127.0.0.1)")
    p.add_argument("--port", type=int, help="default: ui.port (8089)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    ui = settings.ui
    host, port = args.host or ui.host, ui.port if args.port is None else args.port
    why = refusal(host, ui.token, ui.trusted_user_header)
    if why:
        print(why, file=sys.stderr)
        return 2
    # the console never ticks: it only changes Redis; the workers deliver what an ack or resolve queued
    service = AlertingService.from_settings(settings.alerting, settings.redis.url, notifiers={}, runbooks=None,
                                            redis_options=settings.redis.client_options())
    server = make_server(service, Access(ui.token, ui.trusted_user_header, ui.session_ttl_s), host, port)
    bound_host, bound_port = server.server_address[:2]
    how = "token" if ui.token else (f"header {ui.trusted_user_header}" if ui.trusted_user_header else "none (local)")
    print(f"ui: http://{bound_host}:{bound_port}/ (authentication: {how})", flush=True)
    serve_forever(server, service)
    return 0
