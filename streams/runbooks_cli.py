"""``inferwatch runbooks lint [DIR]``: check a runbook directory before it ships, as CI and authors do.

Prints one ``path: problem`` line per problem and exits 1, or a one-line summary and exits 0 (``-o json``: one
document with the problems, for CI annotations). Without DIR it lints
the directory the engine loads (``alerting.runbooks_dir``), and checks ``escalation`` against the configured policies.

Why in ``streams``: the lint needs the (kind, signal) pairs the configured detectors emit, and only the composition
root may know both the detectors and alerting (``alerting`` never imports the detectors).
"""
from __future__ import annotations

import argparse
import sys

from inferwatch.alerting.command_line import add_output_option, emit
from inferwatch.alerting.runbook_lint import lint
from inferwatch.alerting.runbooks import RunbookLibrary, runbook_directory
from inferwatch.detectors.registry import emitted_signals
from inferwatch.streams.config import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("runbooks", help="work with the markdown runbooks attached to alerts")
    commands = parser.add_subparsers(dest="runbooks_command", required=True)
    lint_parser = commands.add_parser(
        "lint", help="validate runbooks and list detector kinds/signals that no runbook covers")
    lint_parser.add_argument("directory", nargs="?",
                             help="runbook directory (default: alerting.runbooks_dir of the config, else the shipped runbooks)")
    add_output_option(lint_parser)
    lint_parser.set_defaults(run=run_lint)


def run_lint(args: argparse.Namespace, settings: Settings) -> int:
    directory = runbook_directory(args.directory or settings.alerting.runbooks_dir)
    emitted = emitted_signals(settings.detectors)
    problems = lint(directory, emitted, policies=settings.alerting.policies)
    count = 0 if problems else len(RunbookLibrary.load(directory).runbooks)

    def table() -> None:
        for problem in problems:
            print(problem)
        if problems:
            print(f"{len(problems)} problem(s) in {directory}", file=sys.stderr)
        else:
            print(f"{directory}: {count} runbooks OK, covering all {len(emitted)} kind/signal pairs the detectors emit")
    emit(args, {"directory": str(directory), "ok": not problems, "problems": [str(p) for p in problems],
                "runbooks": count, "signals": len(emitted)}, table)
    return 1 if problems else 0
