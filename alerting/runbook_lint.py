"""``lint`` of a runbook directory: every problem at once, for ``inferwatch runbooks lint`` and CI.

Parsing is ``alerting.runbooks``; this module adds the checks across files: duplicate ids, escalation policies the
configuration does not know, equally specific runbooks that match the same alert, and the (kind, signal) pairs the
detectors emit that no runbook is written for. Which pairs the detectors emit is not known here (``alerting`` never
imports the detectors): the caller passes them in (``streams.runbooks_cli`` from the configured detector set).

>>> import tempfile
>>> lint(Path(tempfile.mkdtemp()), [("rate", "error.rate")])[0].problem
'no runbooks (*.md files) found'
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Iterable

from inferwatch.alerting.matchers import Matcher
from inferwatch.alerting.runbooks import LintProblem, Runbook, duplicate_ids, read_directory

#: the record fields a runbook is usually written for; ``lint`` checks coverage and ambiguity on them
COVERAGE_KEYS = ("kind", "signal")


def lint(directory: str | Path, emitted: Iterable[tuple[str, str]] = (), *,
         policies: Iterable[str] | None = None) -> list[LintProblem]:
    """Every problem of the runbooks in ``directory``, for ``inferwatch runbooks lint``.

    ``emitted`` is the list of (kind, signal) pairs the detectors produce (``detectors.registry.emitted_signals``);
    each must be covered by a runbook written for it (one matching only on kind and signal), not just by the fallback.
    ``policies``, when given, are the escalation policy names of the configuration a runbook's ``escalation`` may name.
    """
    directory = Path(directory)
    emitted = list(emitted)
    if not directory.is_dir():
        return [LintProblem(directory, "not a directory")]
    runbooks, problems = read_directory(directory)
    if not runbooks and not problems:
        return [LintProblem(directory, "no runbooks (*.md files) found")]
    problems += _unknown_policies(runbooks, policies) + duplicate_ids(runbooks) + _ambiguities(runbooks, emitted)
    return problems + _uncovered(directory, runbooks, emitted)


def _unknown_policies(runbooks: list[Runbook], policies: Iterable[str] | None) -> list[LintProblem]:
    if policies is None:
        return []
    known = sorted(policies)
    return [LintProblem(rb.path, f"escalation: unknown policy {rb.escalation!r} (known: {', '.join(known)})")
            for rb in runbooks if rb.escalation is not None and rb.escalation not in known]


def _ambiguities(runbooks: list[Runbook], emitted: list[tuple[str, str]]) -> list[LintProblem]:
    """Pairs of equally specific runbooks that can both match one alert of an emitted or named (kind, signal).

    On kind and signal the check is exact for the candidate pairs; on other labels two matchers are taken to be
    disjoint only when one is an equality the other rejects (two regexes cannot be proved disjoint cheaply, so
    they are reported and the author makes one of them narrower).
    """
    candidates = list(dict.fromkeys([*emitted, *_named_pairs(runbooks)]))
    problems = []
    for a, b in combinations(runbooks, 2):
        if a.specificity != b.specificity or not _may_overlap(a.match, b.match):
            continue
        shared = next((pair for pair in candidates
                       if _accepts_pair(a.match, pair) and _accepts_pair(b.match, pair)), None)
        if shared is not None:
            winner, loser = sorted((a, b), key=lambda rb: rb.id)
            problems.append(LintProblem(loser.path, (
                f"ambiguous match: {winner.path} is as specific (specificity {a.specificity}) and both match "
                f"kind={shared[0]} signal={shared[1]}; {winner.id!r} wins by id, make one of them narrower")))
    return problems


def _named_pairs(runbooks: list[Runbook]) -> list[tuple[str, str]]:
    """(kind, signal) pairs that runbooks name literally, so custom detectors' kinds are checked too."""
    pairs = []
    for rb in runbooks:
        literal = {m.key: m.value for m in rb.match if m.op == "=" and m.key in COVERAGE_KEYS}
        if len(literal) == len(COVERAGE_KEYS):
            pairs.append((literal["kind"], literal["signal"]))
    return pairs


def _accepts_pair(match: tuple[Matcher, ...], pair: tuple[str, str]) -> bool:
    labels = dict(zip(COVERAGE_KEYS, pair))
    return all(m(labels) for m in match if m.key in COVERAGE_KEYS)


def _may_overlap(a: tuple[Matcher, ...], b: tuple[Matcher, ...]) -> bool:
    """False only when some label other than kind/signal provably cannot satisfy both selectors."""
    b_by_key = {m.key: m for m in b}
    for ma in a:
        mb = b_by_key.get(ma.key)
        if mb is None or ma.key in COVERAGE_KEYS:
            continue
        if ma.op == "=" and not mb({ma.key: ma.value}) or mb.op == "=" and not ma({mb.key: mb.value}):
            return False
    return True


def _uncovered(directory: Path, runbooks: list[Runbook], emitted: list[tuple[str, str]]) -> list[LintProblem]:
    """Emitted pairs with no runbook written for them: one that matches on kind/signal and on nothing narrower."""
    written_for = [rb.match for rb in runbooks
                   if rb.match and all(m.key in COVERAGE_KEYS for m in rb.match)]
    return [LintProblem(directory, f"no runbook covers kind={kind} signal={signal}")
            for kind, signal in dict.fromkeys(emitted)
            if not any(_accepts_pair(match, (kind, signal)) for match in written_for)]
