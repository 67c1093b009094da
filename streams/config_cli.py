"""``inferwatch config show`` and ``inferwatch config schema``: the effective configuration, and its JSON Schema.

``show`` prints what a worker started the same way would run with: the file (``--config`` / ``$INFERWATCH_CONFIG``),
the environment overrides, and every default, with secrets redacted. An invalid configuration never gets here: the
CLI reports every problem with its key and exits 2, so ``config show`` doubles as a config check.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from inferwatch.alerting.command_line import UserError, add_output_option, emit
from inferwatch.streams.config_schema import as_plain, json_schema, with_reference

#: the committed copies: ``inferwatch config schema --out docs/config.schema.json --docs docs/configuration.md``
#: refreshes both after a setting changes (a test fails until then)
SCHEMA_PATH = "docs/config.schema.json"
DOCS_PATH = "docs/configuration.md"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("config", help="print the effective configuration or its JSON Schema")
    sub = parser.add_subparsers(dest="config_command", required=True)
    show = sub.add_parser("show", help="the effective configuration: file + environment + defaults (secrets redacted)")
    add_output_option(show, formats=("yaml", "json"))
    show.set_defaults(run=run_show)
    schema = sub.add_parser("schema", help="the JSON Schema of the config file, for editors")
    schema.add_argument("--out", help=f"write it to this file instead of stdout (the repository keeps {SCHEMA_PATH})")
    schema.add_argument("--docs", metavar="MARKDOWN",
                        help=f"also rewrite the generated reference section of this page (the repository's {DOCS_PATH})")
    schema.set_defaults(run=run_schema)


def run_show(args: argparse.Namespace, settings) -> int:
    plain = as_plain(settings)
    emit(args, plain, lambda: sys.stdout.write(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)))
    return 0


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def run_schema(args: argparse.Namespace, settings) -> int:
    if not args.out:
        sys.stdout.write(schema_text())
    try:
        if args.out:
            Path(args.out).write_text(schema_text())
        if args.docs:
            page = Path(args.docs)
            page.write_text(with_reference(page.read_text()))
    except ValueError as exc:  # the page has no reference markers (OSError: streams.cli reports it)
        raise UserError(str(exc)) from None
    return 0
