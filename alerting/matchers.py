"""Label matchers: the one way routing rules, silences, inhibition and runbooks select alerts.

An alert is seen through its *match labels*: the series labels of the anomaly record plus the record's
``kind``, ``signal``, ``severity`` and ``detector``. A matcher spec is a mapping of key to value in the style of
Alertmanager: ``"checkout"`` is equality, ``"!=checkout"`` inequality, ``"=~chk.*"`` / ``"!~chk.*"`` a full-match regex.

On the command line (and in the console's filter box) matchers are written as amtool writes them:
``kind=~"rate|threshold" service.name!="x"``, several separated by spaces or commas, values double-quoted or not,
optionally inside Alertmanager's braces; ``parse_matcher_text`` reads that form and ``str(matcher)`` writes it.

>>> ms = parse_matchers({"service.name": "checkout", "kind": "=~threshold|rate"})
>>> matches(ms, {"service.name": "checkout", "kind": "rate"})
True
>>> matches(ms, {"service.name": "search", "kind": "rate"})
False
>>> specificity(ms)
3
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Literal, Mapping

Op = Literal["=", "!=", "=~", "!~"]
#: the operators, longest first where one is a prefix of another (how both forms are read)
OPS: tuple[Op, ...] = ("=~", "!~", "!=", "=")
#: record fields that can be matched on besides the series labels
RECORD_KEYS = ("kind", "signal", "severity", "detector")


class MatcherError(ValueError, argparse.ArgumentTypeError):
    """A matcher spec is malformed (for example an invalid regular expression); the message names the key.

    An ``ArgumentTypeError`` too, so ``parse_matcher_text`` serves as an argparse ``type`` with this message.
    """


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

    def __str__(self) -> str:
        """amtool's spelling, value always quoted: ``kind=~"rate|threshold"``."""
        return f'{self.key}{self.op}"' + self.value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def spec_value(self) -> str:
        """The value of this matcher in a spec mapping (the YAML form): ``parse_matchers`` reads it back as is.

        >>> [Matcher("k", op, v).spec_value() for op, v in (("=", "x"), ("!=", "x"), ("=~", "a|b"), ("=", "!=x"))]
        ['x', '!=x', '=~a|b', '=!=x']
        """
        if self.op == "=":
            return "=" + self.value if self.value.startswith(("=", "!")) else self.value
        return self.op + self.value

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
        for op in OPS:
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


_TEXT_MATCHER = re.compile(r'\s*([^\s=!~,{}"]+)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^\s,{}"]*)\s*,?')


def parse_matcher_text(text: str) -> tuple[Matcher, ...]:
    """Matchers written as amtool writes them; ``MatcherError`` saying what is accepted.

    >>> [str(m) for m in parse_matcher_text('{service.name="check out", kind=~"rate|threshold"}')]
    ['service.name="check out"', 'kind=~"rate|threshold"']
    >>> parse_matcher_text('severity!~warn.* env!=dev')
    (Matcher(key='severity', op='!~', value='warn.*'), Matcher(key='env', op='!=', value='dev'))
    >>> parse_matcher_text("oops")
    Traceback (most recent call last):
    ...
    inferwatch.alerting.matchers.MatcherError: cannot read a matcher at 'oops' (expected key=value, key!=value, key=~regex or \
key!~regex; quote values with spaces or commas: key="a b")
    """
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    found: list[Matcher] = []
    pos = 0
    while body[pos:].strip():
        part = _TEXT_MATCHER.match(body, pos)
        if not part:
            raise MatcherError(f"cannot read a matcher at {body[pos:].strip()[:40]!r} (expected key=value, key!=value,"
                               f" key=~regex or key!~regex; quote values with spaces or commas: key=\"a b\")")
        key, op, value = part.groups()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found.append(Matcher(key, op, value))  # type: ignore[arg-type]
        pos = part.end()
    return tuple(found)


def matcher_spec(matchers: tuple[Matcher, ...] | list[Matcher]) -> dict[str, str]:
    """The spec mapping (the YAML form, as silences and routes store it) of ``matchers``; one matcher per key.

    >>> matcher_spec(parse_matcher_text('service.name=checkout kind=~"rate|threshold"'))
    {'service.name': 'checkout', 'kind': '=~rate|threshold'}
    """
    spec: dict[str, str] = {}
    for m in matchers:
        if m.key in spec:
            raise MatcherError(f"{m.key}: more than one matcher on this label (a spec holds one per label)")
        spec[m.key] = m.spec_value()
    return spec


def spec_text(spec: Mapping[str, object] | None) -> str:
    """A spec mapping written as amtool writes matchers (for listings).

    >>> spec_text({"service.name": "checkout", "kind": "=~a|b"})
    'service.name="checkout", kind=~"a|b"'
    """
    return ", ".join(str(m) for m in parse_matchers(spec))
