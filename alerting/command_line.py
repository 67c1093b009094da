"""What every ``inferwatch`` command shares: the user-error type and the ``-o table|json`` output option.

Why here: commands live in ``streams`` and ``alerting``, and ``alerting`` may not import ``streams``; this module
imports nothing of ours, so both can use it. ``streams.cli.main`` is the one place that turns a ``UserError`` (and
the other errors a user can fix) into ``inferwatch: error: <message>`` on stderr and exit code 2 (docs/cli.md).

>>> parser = argparse.ArgumentParser()
>>> add_output_option(parser)
>>> emit(parser.parse_args(["-o", "json"]), [{"id": 1}], table=lambda: print("ID 1"))
[
  {
    "id": 1
  }
]
>>> emit(parser.parse_args([]), [{"id": 1}], table=lambda: print("ID 1"))
ID 1
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Callable

#: the formats of a list or show command; the first is the default
OUTPUT_FORMATS = ("table", "json")


class UserError(Exception):
    """Something the user can fix (a missing file, an unreachable service, a bad value): one line, exit code 2."""


def add_output_option(parser: argparse.ArgumentParser, formats: tuple[str, ...] = OUTPUT_FORMATS) -> None:
    """``-o/--output``: the same option, spelled the same way, on every command that lists or shows something."""
    parser.add_argument("-o", "--output", choices=formats, default=formats[0],
                        help=f"output format: {', '.join(formats)} (default {formats[0]}); json is for scripts")


def emit(args: argparse.Namespace, document: Any, table: Callable[[], None]) -> None:
    """Print ``document`` as JSON if ``-o json`` was asked for, else call ``table`` (which prints for humans)."""
    if args.output == "json":
        print(json.dumps(document, indent=2, default=str, ensure_ascii=False))
    else:
        table()
