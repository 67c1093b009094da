"""``inferwatch`` as a person meets it: one line per mistake, exit codes, ``--version``, ``-o json``, help everywhere."""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

from inferwatch.streams import cli
from tests.conftest import ROOT, free_port


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` as the entry point runs it (argparse's exit included): exit code, stdout, stderr."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code: int, err: str, *says: str) -> None:
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("inferwatch: error: "), err
    assert "Traceback" not in err
    for text in says:
        assert text in err, err


@pytest.fixture(autouse=True)
def no_config_from_the_environment(monkeypatch):
    monkeypatch.delenv("INFERWATCH_CONFIG", raising=False)


@pytest.mark.parametrize("argv, says", [
    (["replay", "nope.jsonl"], ["No such file or directory: nope.jsonl"]),
    (["score", "nope.csv", "--value-column", "v"], ["No such file or directory: nope.csv"]),
    (["simulate", "--out", "/nonexistent/x", "--duration", "1m"], ["No such file or directory: /nonexistent/x"]),
    (["produce", "nope.jsonl"], ["No such file or directory: nope.jsonl"]),
    (["--config", "nope.yaml", "config", "show"], ["nope.yaml"]),
    (["runbooks", "lint", "-o", "xml"], ["argument -o/--output: invalid choice: 'xml'",
                                         "see: inferwatch runbooks lint --help"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    (["simulate", "--duration", "1x"], ["invalid duration '1x'", "units w, d, h, m, s, ms", "1h30m"]),
    (["simulate", "--incident", "meteor@1m+1m"], ["unknown incident kind 'meteor'"]),
    (["simulate", "--incident", "latency_spike@30m1h+5m"], ["invalid duration '30m1h'"]),
    (["silence", "add", "env=dev", "--for", "0", "--comment", "x"], ["invalid duration '0': must be more than 0"]),
    (["silence", "add", "kind=~(", "--for", "1h", "--comment", "x"], ["kind: invalid regular expression"]),
    (["alerts", "list", "oops"], ["cannot read a matcher at 'oops'"]),
    (["produce", "--sample", "2"], ["--sample must be in (0, 1]"]),
])
def test_a_user_error_is_one_line_and_exit_2(capsys, argv, says):
    assert_one_error_line(*run_cli(capsys, *argv)[::2], *says)


def test_redis_down_is_one_line_with_a_hint(capsys, monkeypatch):
    url = f"redis://alice:hunter2@127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("INFERWATCH_REDIS_URL", url)
    for argv in (["alerts", "list"], ["silence", "list", "-o", "json"], ["alerts", "show", "fp"]):
        code, out, err = run_cli(capsys, *argv)
        assert_one_error_line(code, err, "cannot reach Redis", "is redis-server running at redis://alice:***@127.0.0.1",
                              "(set INFERWATCH_REDIS_URL")
        assert "hunter2" not in err and out == ""


def test_kafka_unreachable_is_one_line_not_a_flush_timeout(capsys, monkeypatch, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text('{"event.id": "e1"}\n')
    monkeypatch.setenv("INFERWATCH_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")
    for argv in (["produce", str(events)], ["simulate", "--kafka", "--duration", "10s"]):
        code, _, err = run_cli(capsys, *argv)
        assert_one_error_line(code, err, "cannot reach Kafka at 127.0.0.1:", "is the broker running?",
                              "INFERWATCH_KAFKA_BOOTSTRAP")


def test_produce_checks_the_cluster_then_sends(capsys, monkeypatch, tmp_path, kafka_bootstrap, new_topic):
    events = tmp_path / "events.jsonl"
    events.write_text('{"event.id": "e1", "service.name": "a"}\n{"event.id": "e2", "service.name": "b"}\n')
    monkeypatch.setenv("INFERWATCH_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("INFERWATCH_CONFIG", str(tmp_path / "config.yaml"))
    (tmp_path / "config.yaml").write_text(f"kafka:\n  telemetry_topic: {new_topic('cli')}\n")
    code, _, err = run_cli(capsys, "produce", str(events), "--batch-size", "1")
    assert (code, err) == (0, "sent=2 messages sampled_out=0 skipped_lines=0\n")


def test_a_bug_is_one_line_with_exit_3_and_the_traceback_under_debug(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("inferwatch.streams.simulate.generate", broken)
    code, _, err = run_cli(capsys, "simulate", "--duration", "1m")
    assert code == cli.EXIT_BUG == 3
    assert err == ("inferwatch: error: unexpected ZeroDivisionError: division by zero "
                   "(a bug; run again with --debug for the traceback)\n")
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "simulate", "--duration", "1m"])


def test_the_real_entry_point_prints_one_line_and_no_log_noise(tmp_path):
    """In its own process, with the logging the command sets up: what a user's terminal shows."""
    env = {**os.environ, "INFERWATCH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    env.pop("INFERWATCH_CONFIG", None)
    for argv in (["replay", str(tmp_path / "nope.jsonl")], ["alerts", "list"]):
        proc = subprocess.run([sys.executable, "-m", "inferwatch.streams.cli", *argv], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=120)
        assert_one_error_line(proc.returncode, proc.stderr)


def test_version_is_the_installed_distributions(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out == f"inferwatch {importlib.metadata.version('inferwatch')}\n"


def test_output_json_parses(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "config", "show", "-o", "json")
    assert code == 0 and json.loads(out)["redis"]["url"]
    code, out, _ = run_cli(capsys, "runbooks", "lint", str(ROOT / "runbooks"), "-o", "json")
    lint = json.loads(out)
    assert (code == 0) == lint["ok"] and lint["directory"].endswith("runbooks") and lint["runbooks"] >= 0


def walk(parser: argparse.ArgumentParser, path: str = "inferwatch"):
    """(command path, action) for every argument of every (sub)command, and (path, choice) for every sub-command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {choice.dest for choice in action._choices_actions if choice.help}
            for name, sub in action.choices.items():
                yield f"{path} {name}", None if name in helped else "(no help for this command)"
                yield from walk(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def test_every_command_and_option_has_help():
    missing = [f"{path}: {action if isinstance(action, str) else '/'.join(action.option_strings) or action.dest}"
               for path, action in walk(cli.build_parser())
               if action is not None and (isinstance(action, str) or not (action.help or "").strip())]
    assert missing == []


def test_every_list_or_show_command_takes_output_json():
    parser = cli.build_parser()
    listing = [("alerts", "list"), ("alerts", "show", "fp"), ("silence", "list"), ("runbooks", "lint"),
               ("config", "show"), ("slo",)]
    for argv in listing:
        assert parser.parse_args([*argv, "-o", "json"]).output == "json", argv


def test_docs_cli_names_every_command():
    page = (ROOT / "docs" / "cli.md").read_text()
    commands = {path.removeprefix("inferwatch ") for path, action in walk(cli.build_parser()) if action is None
                or isinstance(action, str)}
    assert sorted(c for c in commands if f"`inferwatch {c}" not in page and f"`{c} " not in page) == []
