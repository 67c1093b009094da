"""Runbooks: loading, picking the most specific one for an alert, lint of broken libraries, and the shipped set."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from inferwatch.alerting.matchers import match_labels
from inferwatch.alerting.runbook_lint import lint
from inferwatch.alerting.runbooks import FIRST_STEP_CHARS, LintProblem, Runbook, RunbookError, RunbookLibrary
from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.registry import emitted_signals
from inferwatch.streams import runbooks_cli
from inferwatch.streams.config import settings_from_mapping

#: the (kind, signal) pairs of the default detector set: the composition root passes them to the lint
DEFAULT_EMITTED = tuple(emitted_signals(DetectorSettings()))

SHIPPED = Path(__file__).resolve().parents[2] / "runbooks"

BODY = """
# Title

## Meaning
Something is off.

## Impact
Users notice.

## Diagnosis
1. First step.
2. Second step.

## Mitigation
Roll back.
"""


def runbook_text(front: dict | None = None, body: str = BODY, **changes) -> str:
    """A valid runbook, with front-matter keys changed (``None`` removes a key)."""
    front = dict(front or {"id": "rb", "title": "A runbook", "match": {"kind": "threshold"},
                           "severity": "warning", "owner": "llm-platform"})
    for key, value in changes.items():
        if value is None:
            front.pop(key, None)
        else:
            front[key] = value
    return "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n" + body


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def problems_text(problems: list[LintProblem]) -> list[str]:
    return [str(p) for p in problems]


# -- matching ---------------------------------------------------------------------------------------------------

LIBRARY = {
    "generic.md": {"id": "generic", "match": {}},
    "threshold.md": {"id": "any-threshold", "match": {"kind": "threshold"}},
    "stage.md": {"id": "stage", "match": {"kind": "threshold", "signal": r"=~app\.stage\..+\.duration"}},
    "latency.md": {"id": "latency", "match": {"kind": "threshold", "signal": "gen_ai.client.operation.duration"}},
    "checkout.md": {"id": "checkout-latency", "match": {"kind": "threshold", "service.name": "checkout",
                                                        "signal": "gen_ai.client.operation.duration"}},
    "not-canary.md": {"id": "stable-errors", "match": {"kind": "rate", "app.variant": "!=canary"}},
}


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    for name, changes in LIBRARY.items():
        write(tmp_path, name, runbook_text(**changes))
    return tmp_path


LATENCY = {"kind": "threshold", "signal": "gen_ai.client.operation.duration"}


@pytest.mark.parametrize("labels, expected", [
    ({**LATENCY, "service.name": "checkout"}, "checkout-latency"),  # 3 equalities beat 2
    ({**LATENCY, "service.name": "search"}, "latency"),
    ({"kind": "threshold", "signal": "app.stage.retrieval.duration"}, "stage"),  # equality + regex (3) beat 2
    ({"kind": "threshold", "signal": "app.cost.usd"}, "any-threshold"),
    ({"kind": "rate", "signal": "error.rate", "app.variant": "stable"}, "stable-errors"),
    ({"kind": "rate", "signal": "error.rate"}, "stable-errors"),  # a missing label is "" for matchers
    ({"kind": "rate", "signal": "error.rate", "app.variant": "canary"}, "generic"),
    ({}, "generic"),
])
def test_match_picks_the_most_specific_runbook(library_dir: Path, labels: dict, expected: str) -> None:
    assert RunbookLibrary.load(library_dir).match(labels).id == expected


def test_match_uses_record_fields_through_match_labels(library_dir: Path) -> None:
    record = {"kind": "threshold", "signal": "gen_ai.client.operation.duration", "severity": "critical",
              "labels": {"service.name": "checkout", "gen_ai.request.model": "gpt-4o"}}
    assert RunbookLibrary.load(library_dir).match(match_labels(record)).id == "checkout-latency"


def test_no_runbook_matches_without_a_fallback(tmp_path: Path) -> None:
    write(tmp_path, "latency.md", runbook_text(**LIBRARY["latency.md"]))
    assert RunbookLibrary.load(tmp_path).match({"kind": "rate", "signal": "error.rate"}) is None


def test_ties_go_to_the_smallest_id_whatever_the_file_order(tmp_path: Path) -> None:
    write(tmp_path, "a.md", runbook_text(id="zeta", match={"kind": "rate"}))
    write(tmp_path, "b.md", runbook_text(id="alpha", match={"signal": "error.rate"}))
    assert RunbookLibrary.load(tmp_path).match({"kind": "rate", "signal": "error.rate"}).id == "alpha"
    assert problems_text(lint(tmp_path, [("rate", "error.rate")])) == [
        f"{tmp_path / 'a.md'}: ambiguous match: {tmp_path / 'b.md'} is as specific (specificity 2) and both match "
        "kind=rate signal=error.rate; 'alpha' wins by id, make one of them narrower"]


def test_load_reads_every_field(tmp_path: Path) -> None:
    body = BODY.replace("1. First step.\n2. Second step.",
                        "Start here:\n\n1. Open the exemplar traces;\n   compare stages.\n   - a sub-point\n2. Check the"
                        " status page.\n3. Third.\n4. Fourth.\n\nMore prose.")
    path = write(tmp_path, "error rate.md", runbook_text(id="errors", match={"kind": "rate", "signal": "=~error.*"},
                                                         severity="critical", escalation="pagerduty-now", body=body))
    (rb,) = RunbookLibrary.load(tmp_path).runbooks
    assert (rb.id, rb.title, rb.path, rb.severity, rb.owner, rb.escalation) == (
        "errors", "A runbook", path, "critical", "llm-platform", "pagerduty-now")
    assert [(m.key, m.op, m.value) for m in rb.match] == [("kind", "=", "rate"), ("signal", "=~", "error.*")]
    assert list(rb.sections) == ["Meaning", "Impact", "Diagnosis", "Mitigation"]
    assert rb.sections["Mitigation"] == "Roll back."
    assert rb.first_steps == ["Open the exemplar traces; compare stages.", "Check the status page.", "Third."]
    assert rb.url("https://github.com/acme/inferwatch/blob/main/runbooks/") == (
        "https://github.com/acme/inferwatch/blob/main/runbooks/error%20rate.md")
    assert rb.url("") == f"{tmp_path.name}/error rate.md"  # the repository path, not a file:// URL
    with pytest.raises(AttributeError):
        rb.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("diagnosis, expected", [
    ("- Look at traces.\n- Check provider.", ["Look at traces.", "Check provider."]),
    ("Open the dashboard.\nThen the traces.", ["Open the dashboard.", "Then the traces."]),
    ("1. " + "x" * 300, ["x" * (FIRST_STEP_CHARS - 1) + "…"]),
    ("```\n## not a heading\n```\n1. Step.", ["Step."]),
])
def test_first_steps(tmp_path: Path, diagnosis: str, expected: list[str]) -> None:
    body = BODY.replace("1. First step.\n2. Second step.", diagnosis)
    write(tmp_path, "rb.md", runbook_text(body=body))
    assert RunbookLibrary.load(tmp_path).runbooks[0].first_steps == expected


# -- broken runbooks --------------------------------------------------------------------------------------------

BROKEN = [
    ("no-front-matter", BODY, "no front matter: the file must start with a '---' line"),
    ("unclosed", "---\nid: x\n" + BODY, "front matter is not closed by a '---' line"),
    ("bad-yaml", "---\nid: [x\n---\n" + BODY, "front matter is not valid YAML"),
    ("list", "---\n- id\n---\n" + BODY, "front matter must be a YAML mapping"),
    ("unknown-key", runbook_text(sevirity="warning"), "front matter: unknown key 'sevirity'"),
    ("missing-owner", runbook_text(owner=None), "front matter: missing key 'owner'"),
    ("bad-id", runbook_text(id="Latency Runbook"), "front matter: id 'Latency Runbook' must be a slug"),
    ("bad-severity", runbook_text(severity="page"), "front matter: severity must be one of info, warning, critical, got 'page'"),
    ("empty-title", runbook_text(title=" "), "front matter: title must be a non-empty string"),
    ("bad-escalation", runbook_text(escalation=["a"]), "front matter: escalation must be the name of an escalation policy"),
    ("bad-regex", runbook_text(match={"signal": "=~(unclosed"}), "match: signal: invalid regular expression"),
    ("match-list", runbook_text(match=["kind=rate"]), "match: must be a mapping"),
    ("match-value-list", runbook_text(match={"kind": ["rate"]}), "match: kind: expected a string, got list"),
    ("missing-section", runbook_text(body=BODY.replace("## Impact", "## Effects")), "missing section '## Impact'"),
    ("empty-section", runbook_text(body=BODY.replace("Roll back.", "")), "section '## Mitigation' is empty"),
]


@pytest.mark.parametrize("name, text, expected", BROKEN, ids=[case[0] for case in BROKEN])
def test_lint_and_load_name_the_file_and_the_problem(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = write(tmp_path, f"{name}.md", text)
    found = problems_text(lint(tmp_path, emitted=[]))
    assert len(found) == 1 and found[0].startswith(f"{path}: {expected}"), found
    with pytest.raises(RunbookError, match="^" + str(path)):
        RunbookLibrary.load(tmp_path)


def test_lint_collects_every_problem_of_every_file(tmp_path: Path) -> None:
    write(tmp_path, "good.md", runbook_text(id="good"))
    first = write(tmp_path, "one.md", runbook_text(id="one", colour="red", severity="loud"))
    second = write(tmp_path, "two.md", runbook_text(id="two", body=BODY.replace("## Diagnosis", "")))
    assert problems_text(lint(tmp_path, emitted=[])) == [
        f"{first}: front matter: unknown key 'colour' (known: id, title, match, severity, owner, escalation)",
        f"{first}: front matter: severity must be one of info, warning, critical, got 'loud'",
        f"{second}: missing section '## Diagnosis'",
    ]


def test_duplicate_ids(tmp_path: Path) -> None:
    first = write(tmp_path, "a.md", runbook_text(id="latency", match={"kind": "threshold"}))
    second = write(tmp_path, "b.md", runbook_text(id="latency", match={"kind": "rate"}))
    assert problems_text(lint(tmp_path, emitted=[])) == [f"{second}: duplicate id 'latency' (also in {first})"]
    with pytest.raises(RunbookError, match=f"^{second}: duplicate id"):
        RunbookLibrary.load(tmp_path)


@pytest.mark.parametrize("a, b, ambiguous", [
    ({"kind": "threshold"}, {"kind": "threshold"}, True),
    ({}, {}, True),  # two fallbacks
    ({"kind": "threshold"}, {"kind": "rate"}, False),
    ({"kind": "threshold"}, {"signal": "error.rate"}, False),  # no emitted pair is matched by both
    ({"kind": "threshold", "service.name": "a"}, {"kind": "threshold", "service.name": "b"}, False),
    ({"kind": "threshold", "service.name": "a"}, {"kind": "threshold", "app.route": "/chat"}, True),
    ({"kind": "threshold", "service.name": "a"}, {"kind": "threshold", "service.name": "=~a|b", "x": "=~.*"}, True),
    ({"kind": "threshold", "service.name": "a"}, {"kind": "threshold", "service.name": "=~b.*", "x": "=~.*"}, False),
    ({"kind": "threshold", "service.name": "=~a.*"}, {"kind": "threshold", "service.name": "=~b.*"}, True),  # unprovable
    ({"kind": "custom", "signal": "x"}, {"kind": "custom", "signal": "=~x|y", "y": "=~.*"}, True),  # named pair
    ({"kind": "threshold"}, {"kind": "threshold", "signal": "=~.*"}, False),  # different specificity
])
def test_ambiguous_matches(tmp_path: Path, a: dict, b: dict, ambiguous: bool) -> None:
    write(tmp_path, "a.md", runbook_text(id="a", match=a))
    second = write(tmp_path, "b.md", runbook_text(id="b", match=b))
    found = problems_text(lint(tmp_path, emitted=[("threshold", "gen_ai.client.operation.duration")]))
    found = [p for p in found if ": ambiguous match:" in p]
    assert bool(found) == ambiguous, found
    if ambiguous:
        assert found[0].startswith(f"{second}: ambiguous match: {tmp_path / 'a.md'}")


def test_lint_lists_emitted_pairs_no_runbook_is_written_for(tmp_path: Path) -> None:
    write(tmp_path, "generic.md", runbook_text(id="generic", match={}))
    write(tmp_path, "latency.md", runbook_text(id="latency", match=LATENCY))
    write(tmp_path, "checkout.md", runbook_text(id="checkout-errors", match={"kind": "rate", "service.name": "checkout"}))
    write(tmp_path, "drift.md", runbook_text(id="drift", match={"kind": "data_drift"}))
    emitted = [("threshold", "gen_ai.client.operation.duration"), ("rate", "error.rate"),
               ("data_drift", "app.input.topic"), ("threshold", "app.cost.usd")]
    assert problems_text(lint(tmp_path, emitted)) == [
        f"{tmp_path}: no runbook covers kind=rate signal=error.rate",  # only for one service
        f"{tmp_path}: no runbook covers kind=threshold signal=app.cost.usd",  # only the fallback
    ]


def test_lint_default_emitted_pairs_are_checked(tmp_path: Path) -> None:
    write(tmp_path, "latency.md", runbook_text(id="latency", match=LATENCY))
    found = problems_text(lint(tmp_path, DEFAULT_EMITTED))
    assert len(found) == len(set(DEFAULT_EMITTED)) - 1
    assert f"{tmp_path}: no runbook covers kind=rate signal=error.rate" in found


@pytest.mark.parametrize("make, expected", [
    (lambda tmp: tmp / "missing", "not a directory"),
    (lambda tmp: tmp, "no runbooks (*.md files) found"),
])
def test_lint_of_a_directory_without_runbooks(tmp_path: Path, make, expected: str) -> None:
    directory = make(tmp_path)
    assert problems_text(lint(directory)) == [f"{directory}: {expected}"]


def test_load_of_a_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="not a directory"):
        RunbookLibrary.load(tmp_path / "missing")


# -- the shipped runbooks ---------------------------------------------------------------------------------------


def test_shipped_runbooks_lint_clean() -> None:
    assert problems_text(lint(SHIPPED, DEFAULT_EMITTED)) == []


@pytest.mark.parametrize("kind, signal", sorted(set(DEFAULT_EMITTED)))
def test_every_default_signal_has_its_own_shipped_runbook(kind: str, signal: str) -> None:
    labels = {"kind": kind, "signal": signal, "service.name": "chat", "gen_ai.request.model": "gpt-4o"}
    runbook = RunbookLibrary.load(SHIPPED).match(labels)
    assert runbook is not None and runbook.id != "generic"


@pytest.mark.parametrize("kind, signal, expected", [
    ("threshold", "gen_ai.usage.input_tokens", "input-tokens"),
    ("data_drift", "gen_ai.usage.input_tokens", "input-size-drift"),
    ("threshold", "app.stage.rerank.duration", "stage-latency"),
    ("rate", "app.safety.pii_detected.rate", "safety-pii"),
    ("rate", "app.safety.toxicity", "safety-flags"),
    ("variant_regression", "variant.error.rate", "variant-regression"),
    ("throughput", "request.rate", "traffic"),
    ("novelty", "something.new", "generic"),
])
def test_shipped_runbook_choice(kind: str, signal: str, expected: str) -> None:
    assert RunbookLibrary.load(SHIPPED).match({"kind": kind, "signal": signal}).id == expected


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.md")), ids=lambda p: p.name)
def test_shipped_runbooks_give_short_numbered_first_steps(path: Path) -> None:
    (runbook,) = [rb for rb in RunbookLibrary.load(SHIPPED).runbooks if rb.path == path]
    assert len(runbook.first_steps) == 3
    assert all(len(step) < FIRST_STEP_CHARS for step in runbook.first_steps)  # never cut mid-sentence
    assert runbook.sections["Diagnosis"].startswith("1. ")


# -- the command line -------------------------------------------------------------------------------------------


def run_cli(argv: list[str], config: dict | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inferwatch")
    runbooks_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args, settings_from_mapping(config or {}))


def test_cli_lint_of_the_shipped_runbooks_from_any_directory(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # no runbooks/ here: the default is the shipped ones, wherever the command runs
    assert run_cli(["runbooks", "lint"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{SHIPPED}: {len(list(SHIPPED.glob('*.md')))} runbooks OK")


def test_cli_lint_prints_each_problem_and_fails(tmp_path: Path, capsys) -> None:
    write(tmp_path, "generic.md", runbook_text(id="generic", match={}))
    broken = write(tmp_path, "broken.md", runbook_text(id="broken", match={"signal": "=~("}))
    assert run_cli(["runbooks", "lint", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{broken}: match: signal: invalid regular expression")
    assert len(lines) == 1 + len(set(DEFAULT_EMITTED))  # plus one line per uncovered default pair
    assert all(line.startswith(f"{tmp_path}") for line in lines)


def test_cli_lints_the_configured_directory_and_policies(tmp_path: Path, capsys) -> None:
    for kind, signal in DEFAULT_EMITTED:
        write(tmp_path, f"{kind}-{signal}.md", runbook_text(id=f"{kind}-{signal}".replace(".", "-").replace("_", "-"),
                                                             match={"kind": kind, "signal": signal}))
    paging = write(tmp_path, "paging.md", runbook_text(id="paging", match={"kind": "x"}, escalation="page-now"))
    config = {"alerting": {"runbooks_dir": str(tmp_path)}}
    assert run_cli(["runbooks", "lint"], config) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{paging}: escalation: unknown policy 'page-now' (known: default)"]
    config["alerting"]["policies"] = {"default": {"levels": [{"targets": ["slack"]}]},
                                      "page-now": {"levels": [{"targets": ["slack"]}]}}
    assert run_cli(["runbooks", "lint"], config) == 0
    assert capsys.readouterr().out == (
        f"{tmp_path}: {len(DEFAULT_EMITTED) + 1} runbooks OK, covering all {len(DEFAULT_EMITTED)} "
        "kind/signal pairs the detectors emit\n")


def test_runbook_is_hashable_and_frozen() -> None:
    rb = Runbook("x", "X", Path("x.md"), (), "info", "me", None, {"Meaning": "m"})
    assert {rb: 1}[rb] == 1
