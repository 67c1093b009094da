"""Label matchers: the one way routing rules, silences, inhibition and runbooks select alerts.

An alert is seen through its *match labels*: the series labels of the anomaly record plus the record's
``kind``, ``signal``, ``severity`` and ``detector``. A matcher spec is a mapping of key to value in the style of
Alertmanager: ``"checkout"`` is equality, ``"!=checkout"`` inequality, ``"=~chk.*"`` / ``"!~chk.*"`` a full-match regex.

>>> ms = parse_matchers({"service.name": "checkout", "kind": "=~threshold|rate"})
>>> matches(ms, {"service.name": "checkout", "kind": "rate"})
True
>>> matches(ms, {"service.name": "search", "kind": "rate"})
False
>>> specificity(ms)
3
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Mapping

Op = Literal["=", "!=", "=~", "!~"]
#: record fields that can be matched on besides the series labels
RECORD_KEYS = ("kind", "signal", "severity", "detector")


class MatcherError(ValueError):
    """A matcher spec is malformed (for example an invalid regular expression); the message names the key."""


@dataclass(frozen=True)
class Matcher:
    key: str
    op: Op
    value: str

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise MatcherError(f"{self.key}: invalid regular expression {self.value!r}: {exc}") from None

    def __call__(self, labels: Mapping[str, object]) -> bool:
        actual = labels.get(self.key)
        actual = "" if actual is None else str(actual)
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found


def parse_matchers(spec: Mapping[str, object] | None) -> tuple[Matcher, ...]:
    """Turn ``{"key": "value" | "!=value" | "=~re" | "!~re"}`` into matchers."""
    out = []
    for key, raw in (spec or {}).items():
        if not isinstance(key, str) or not key:
            raise MatcherError(f"{key!r}: matcher keys must be non-empty strings")
        text = "" if raw is None else str(raw)
        for op in ("=~", "!~", "!=", "="):
            if text.startswith(op):
                out.append(Matcher(key, op, text[len(op):]))  # type: ignore[arg-type]
                break
        else:
            out.append(Matcher(key, "=", text))
    return tuple(out)


def match_labels(record: Mapping[str, object]) -> dict[str, object]:
    """The labels an anomaly record (or an alert built from one) is matched on."""
    labels = dict(record.get("labels") or {})
    for key in RECORD_KEYS:
        if key in record:
            labels[key] = record[key]
    return labels


def matches(matchers: tuple[Matcher, ...] | list[Matcher], labels: Mapping[str, object]) -> bool:
    return all(m(labels) for m in matchers)


def specificity(matchers: tuple[Matcher, ...] | list[Matcher]) -> int:
    """How specific a selector is: equality matchers count most, so the narrowest runbook or route wins."""
    return sum(2 if m.op == "=" else 1 for m in matchers)
