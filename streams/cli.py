"""The ``inferwatch`` command: one sub-command per module, registered in ``COMMANDS``.

Each command module exposes ``add_parser(subparsers)``, which adds its sub-parser and sets ``run=<callable>``;
``run(args, settings) -> int`` receives the one validated ``Settings`` object (``--config`` / ``$INFERWATCH_CONFIG``
plus env overrides) and returns the exit code.
"""
from __future__ import annotations

import argparse
import logging
import sys

from alerting import cli as alerting_cli
from alerting import runbooks_cli
from alerting.redact import install_log_redaction
from streams import config_cli, demo, produce, replay, score, simulate, worker
from streams.config import ConfigError, load_settings
from streams.kafka_security import KafkaAccessError

#: Explicit registry of command modules; adding a command is one module plus one line here.
COMMANDS: list = [worker, produce, simulate, replay, score, demo, *alerting_cli.COMMANDS, runbooks_cli, config_cli]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inferwatch", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="YAML config file (default: $INFERWATCH_CONFIG, else built-in defaults)")
    parser.add_argument("--log-level", default="INFO")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()  # every record, whichever handler (Faust's too) writes it: see alerting.redact
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"inferwatch: invalid configuration: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.run(args, settings) or 0)
    except KafkaAccessError as exc:  # wrong credentials or certificate: one line, not a traceback
        print(f"inferwatch: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
