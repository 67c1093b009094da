"""The ``inferwatch`` command: one sub-command per module, registered in ``COMMANDS``.

Each command module exposes ``add_parser(subparsers)``, which adds its sub-parser and sets ``run=<callable>``;
``run(args, settings) -> int`` receives the one validated ``Settings`` object (``--config`` / ``$INFERWATCH_CONFIG``
plus env overrides) and returns the exit code.

``main`` is the one place where errors become exit codes (docs/cli.md): a mistake the user can fix (bad arguments,
an invalid config, a missing file, Redis or Kafka unreachable, a ``UserError``) is one line
``inferwatch: error: <what>`` on stderr and exit 2; anything else is a bug: one line saying so and exit 3, with the
traceback only under ``--debug`` (a person reads the line; the traceback is for the bug report).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from urllib.parse import urlsplit, urlunsplit

import redis

from inferwatch.alerting import cli as alerting_cli
from inferwatch.alerting.command_line import UserError
from inferwatch.alerting.redact import install_log_redaction
from inferwatch.alerting.ui import cli as ui_cli
from inferwatch.streams import config_cli, demo, produce, replay, runbooks_cli, score, simulate, slo_cli, worker
from inferwatch.streams.config import ConfigError, load_settings
from inferwatch.streams.kafka_security import KafkaAccessError

#: Explicit registry of command modules; adding a command is one module plus one line here.
COMMANDS: list = [worker, produce, simulate, replay, score, demo, *alerting_cli.COMMANDS, runbooks_cli, config_cli,
            slo_cli, ui_cli]


#: commands that run until stopped: their log is their output, so they log at INFO unless told otherwise;
#: one-shot commands print their answer on stdout and log only warnings
SERVICES = frozenset({"worker", "slack-actions", "ui", "demo"})
#: exit codes (docs/cli.md): 1 is the command's own "no" (lint problems, not found, not delivered)
EXIT_USER_ERROR = 2
EXIT_BUG = 3


class CommandLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``inferwatch: error: ...``) and exit 2, like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"inferwatch: error: {message} (see: {self.prog} --help)\n")


def version() -> str:
    """The installed distribution's version (what ``pip install`` put there), not a copy in the code."""
    try:
        return importlib.metadata.version("inferwatch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(prog="inferwatch", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                        help="print the installed version and exit")
    parser.add_argument("--config", help="YAML config file (default: $INFERWATCH_CONFIG, else built-in defaults)")
    parser.add_argument("--log-level", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level (default: INFO for worker, slack-actions, ui and demo, WARNING otherwise)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def _without_password(url: str) -> str:
    """``url`` safe to print: the password of ``redis://user:pw@host`` replaced.

    >>> _without_password("rediss://alice:s3cret@r:6380/0"), _without_password("redis://localhost:6379/0")
    ('rediss://alice:***@r:6380/0', 'redis://localhost:6379/0')
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.hostname}"
                                            f"{':' + str(parts.port) if parts.port else ''}"))


def user_error_message(exc: BaseException, settings: object | None) -> str | None:
    """The one line for an error the user can fix, or None if ``exc`` is a bug."""
    if isinstance(exc, (UserError, KafkaAccessError)):
        return str(exc)
    if isinstance(exc, ConfigError):
        return f"invalid configuration: {exc}"  # several problems: one indented line each, as promtool lists them
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        url = _without_password(settings.redis.url) if settings is not None else "?"  # type: ignore[attr-defined]
        return (f"cannot reach Redis: {' '.join(str(exc).split()).rstrip('.')}; is redis-server running at {url}? "
                f"(set INFERWATCH_REDIS_URL or redis.url)")
    if isinstance(exc, OSError):
        if exc.filename is not None:
            return f"{exc.strerror or exc}: {exc.filename}"
        return str(exc) or type(exc).__name__
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level or ("INFO" if args.command in SERVICES else "WARNING")
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()  # every record, whichever handler (Faust's too) writes it: see alerting.redact
    settings = None
    try:
        settings = load_settings(args.config)
        return int(args.run(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        message = user_error_message(exc, settings)
        if message is not None:
            print(f"inferwatch: error: {message}", file=sys.stderr)
            return EXIT_USER_ERROR
        if args.debug:
            raise
        print(f"inferwatch: error: unexpected {type(exc).__name__}: {' '.join(str(exc).split())} "
              f"(a bug; run again with --debug for the traceback)", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
