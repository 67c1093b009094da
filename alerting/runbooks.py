"""Markdown runbooks: one file per kind of problem, picked for each alert by the same label matchers as routing.

A runbook is ``runbooks/<name>.md``: YAML front matter between ``---`` lines (``id``, ``title``, ``match``,
``severity``, ``owner``, optional ``escalation``) and a body with the sections Meaning / Impact / Diagnosis /
Mitigation, the layout prometheus-operator/runbooks made familiar. Runbooks are data the on-call reads at 3 a.m., so
they are validated strictly: ``RunbookLibrary.load`` refuses an invalid library with a message naming the file. This
module parses; ``alerting.runbook_lint`` collects every problem at once, including ambiguous matches and the alert
kinds nobody wrote a runbook for.

>>> from inferwatch.alerting.matchers import parse_matchers
>>> latency = Runbook(id="latency", title="Latency", path=Path("runbooks/latency.md"),
...                   match=parse_matchers({"kind": "threshold", "signal": "gen_ai.client.operation.duration"}),
...                   severity="warning", owner="llm-platform", escalation=None,
...                   sections={"Diagnosis": "1. Open the exemplar traces.\\n2. Check the provider status page."})
>>> fallback = Runbook(id="generic", title="Any anomaly", path=Path("runbooks/generic.md"), match=(),
...                    severity="info", owner="llm-platform", escalation=None, sections={})
>>> library = RunbookLibrary([fallback, latency])
>>> library.match({"kind": "threshold", "signal": "gen_ai.client.operation.duration"}).id
'latency'
>>> library.match({"kind": "rate", "signal": "error.rate"}).id
'generic'
>>> latency.first_steps
['Open the exemplar traces.', 'Check the provider status page.']
>>> latency.url("https://github.com/acme/inferwatch/blob/main/runbooks/")
'https://github.com/acme/inferwatch/blob/main/runbooks/latency.md'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import quote

import yaml

from inferwatch.alerting.matchers import Matcher, MatcherError, matches, parse_matchers, specificity
from inferwatch.detectors.contract import SEVERITIES  # the record contract (a leaf module)
from inferwatch.runbooks import DIRECTORY as SHIPPED_RUNBOOKS

REQUIRED_KEYS = ("id", "title", "match", "severity", "owner")
OPTIONAL_KEYS = ("escalation",)
REQUIRED_SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation")
#: how many diagnosis steps travel with a page, and how long each may be (Slack and PagerDuty show them inline)
FIRST_STEPS = 3
FIRST_STEP_CHARS = 160

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_HEADING = re.compile(r"^(#{1,2})\s+(.+?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^(?:\d+[.)]|[-*+])\s+(.*)$")


class RunbookError(ValueError):
    """A runbook (or the library as a whole) is invalid; the message starts with the file's path."""


@dataclass(frozen=True)
class LintProblem:
    """One thing wrong with a runbook library, attached to the file (or directory) where it must be fixed."""

    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass(frozen=True)
class Runbook:
    """A parsed runbook: who owns the problem, which alerts it is for, and what to do about them."""

    id: str
    title: str
    path: Path
    match: tuple[Matcher, ...]
    severity: str
    owner: str
    escalation: str | None
    sections: dict[str, str] = field(hash=False)

    @property
    def specificity(self) -> int:
        return specificity(self.match)

    @property
    def first_steps(self) -> list[str]:
        """The first few Diagnosis steps, short enough to travel inside a Slack message or PagerDuty page."""
        return [_shorten(step) for step in _steps(self.sections.get("Diagnosis", ""))[:FIRST_STEPS]]

    def url(self, base_url: str) -> str:
        """Where a responder opens this runbook: ``base_url`` + file name, else its path in the repository.

        Without a base URL there is nothing a responder's browser could open (a ``file://`` URL names a file on the
        engine's host), so the link is the repository path, ``<runbooks dir>/<file>``, which templates show as text.

        >>> rb = Runbook("x", "X", Path("/srv/runbooks/error rate.md"), (), "info", "me", None, {})
        >>> rb.url("https://wiki.example/runbooks")
        'https://wiki.example/runbooks/error%20rate.md'
        >>> rb.url("")
        'runbooks/error rate.md'
        """
        if not base_url:
            return f"{self.path.parent.name}/{self.path.name}"
        return base_url.rstrip("/") + "/" + quote(self.path.name)


class RunbookLibrary:
    """All runbooks of a directory; ``match`` picks the most specific one for an alert's labels."""

    def __init__(self, runbooks: Iterable[Runbook]):
        # most specific first, ties by id: the same alert always gets the same runbook, whatever the file order
        self.runbooks: list[Runbook] = sorted(runbooks, key=lambda rb: (-rb.specificity, rb.id))

    @classmethod
    def load(cls, directory: str | Path) -> RunbookLibrary:
        """Parse every ``*.md`` in ``directory``; raise RunbookError on the first invalid file or a duplicate id."""
        runbooks, problems = read_directory(Path(directory))
        problems += duplicate_ids(runbooks)
        if problems:
            raise RunbookError(str(problems[0]))
        return cls(runbooks)

    def match(self, labels: Mapping[str, object]) -> Runbook | None:
        """The most specific runbook whose matchers all accept ``labels`` (see ``matchers.match_labels``)."""
        return next((rb for rb in self.runbooks if matches(rb.match, labels)), None)


# -- reading one file -------------------------------------------------------------------------------------------


def runbook_directory(setting: str) -> Path:
    """The directory ``alerting.runbooks_dir`` names; empty means the runbooks installed with inferwatch.

    >>> runbook_directory("").joinpath("latency.md").is_file(), runbook_directory("my-runbooks")
    (True, PosixPath('my-runbooks'))
    """
    return Path(setting) if setting else SHIPPED_RUNBOOKS


def read_directory(directory: Path) -> tuple[list[Runbook], list[LintProblem]]:
    if not directory.is_dir():
        raise RunbookError(f"{directory}: not a directory")
    runbooks, problems = [], []
    for path in sorted(directory.glob("*.md")):
        runbook, file_problems = _read_runbook(path)
        problems += [LintProblem(path, p) for p in file_problems]
        if runbook is not None:
            runbooks.append(runbook)
    return runbooks, problems


def _read_runbook(path: Path) -> tuple[Runbook | None, list[str]]:
    """Parse one runbook, collecting every problem; the runbook is None unless there were none."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"cannot read: {exc}"]
    front, body, problems = _split_front_matter(text)
    if front is None:
        return None, problems
    match, front_problems = _check_front_matter(front)
    sections = _sections(body)
    problems = front_problems + _section_problems(sections)
    if problems:
        return None, problems
    return Runbook(id=front["id"], title=front["title"], path=path, match=match, severity=front["severity"],
                   owner=front["owner"], escalation=front.get("escalation"), sections=sections), []


def _split_front_matter(text: str) -> tuple[dict | None, str, list[str]]:
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return None, "", ["no front matter: the file must start with a '---' line"]
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    except StopIteration:
        return None, "", ["front matter is not closed by a '---' line"]
    try:
        front = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        return None, "", [f"front matter is not valid YAML: {' '.join(str(exc).split())}"]
    if not isinstance(front, dict):
        return None, "", ["front matter must be a YAML mapping"]
    return front, "\n".join(lines[end + 1:]), []


def _check_front_matter(front: dict) -> tuple[tuple[Matcher, ...], list[str]]:
    known = REQUIRED_KEYS + OPTIONAL_KEYS
    problems = [f"front matter: unknown key {key!r} (known: {', '.join(known)})" for key in front if key not in known]
    problems += [f"front matter: missing key {key!r}" for key in REQUIRED_KEYS if key not in front]
    if "id" in front and not (isinstance(front["id"], str) and _SLUG.fullmatch(front["id"])):
        problems.append(f"front matter: id {front['id']!r} must be a slug (lower-case letters, digits, '-')")
    for key in ("title", "owner"):
        if key in front and not (isinstance(front[key], str) and front[key].strip()):
            problems.append(f"front matter: {key} must be a non-empty string")
    if "severity" in front and front["severity"] not in SEVERITIES:
        problems.append(f"front matter: severity must be one of {', '.join(SEVERITIES)}, got {front['severity']!r}")
    if front.get("escalation") is not None and not (isinstance(front["escalation"], str) and front["escalation"]):
        problems.append("front matter: escalation must be the name of an escalation policy")
    match, match_problems = _parse_match(front.get("match", {}))
    return match, problems + match_problems


def _parse_match(spec: object) -> tuple[tuple[Matcher, ...], list[str]]:
    if not isinstance(spec, dict):
        return (), ["match: must be a mapping of label to matcher (use {} for a fallback runbook)"]
    problems = [f"match: {key}: expected a string, got {type(value).__name__}"
                for key, value in spec.items() if isinstance(value, bool) or not isinstance(value, (str, int, float))]
    if problems:
        return (), problems
    try:
        return parse_matchers(spec), []
    except MatcherError as exc:
        return (), [f"match: {exc}"]


def _sections(body: str) -> dict[str, str]:
    """Level-2 headings and their text; headings inside fenced code blocks are text."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    fenced = False
    for line in body.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading:
            current = sections.setdefault(heading.group(2), []) if heading.group(1) == "##" else None
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def _section_problems(sections: Mapping[str, str]) -> list[str]:
    problems = []
    for name in REQUIRED_SECTIONS:
        if name not in sections:
            problems.append(f"missing section '## {name}'")
        elif not sections[name]:
            problems.append(f"section '## {name}' is empty")
    return problems


def _steps(text: str) -> list[str]:
    """Top-level list items of ``text`` (continuation lines joined), else its non-empty lines."""
    items: list[list[str]] = []
    for line in text.splitlines():
        item = _LIST_ITEM.match(line)
        if item:
            items.append([item.group(1).strip()])
        elif items and line.startswith((" ", "\t")) and line.strip() and not _LIST_ITEM.match(line.strip()):
            items[-1].append(line.strip())
        elif items and line.strip() and not line.startswith((" ", "\t")):
            break  # the list ended; what follows is prose
    if items:
        return [" ".join(parts) for parts in items]
    return [line.strip() for line in text.splitlines() if line.strip()]


def _shorten(text: str) -> str:
    return text if len(text) <= FIRST_STEP_CHARS else text[:FIRST_STEP_CHARS - 1].rstrip() + "…"


def duplicate_ids(runbooks: list[Runbook]) -> list[LintProblem]:
    first: dict[str, Runbook] = {}
    problems = []
    for rb in runbooks:
        if rb.id in first:
            problems.append(LintProblem(rb.path, f"duplicate id {rb.id!r} (also in {first[rb.id].path})"))
        else:
            first[rb.id] = rb
    return problems
