"""Matchers as amtool writes them (``alerting.matchers.parse_matcher_text``), and the spec (YAML) form they map to."""
from __future__ import annotations

import pytest

from inferwatch.alerting.matchers import MatcherError, matcher_spec, matches, parse_matcher_text, parse_matchers

LABELS = {"service.name": "checkout", "kind": "rate", "severity": "warning", "app.route": "/chat, v2"}


@pytest.mark.parametrize("text, parsed", [
    ("service.name=checkout", [("service.name", "=", "checkout")]),
    ('service.name="checkout"', [("service.name", "=", "checkout")]),
    ('kind=~"rate|threshold"', [("kind", "=~", "rate|threshold")]),
    ("kind=~rate|threshold", [("kind", "=~", "rate|threshold")]),
    ('service.name!="x"', [("service.name", "!=", "x")]),
    ('severity!~"warn.*"', [("severity", "!~", "warn.*")]),
    ('a=1 b!=2,c=~"3|4"', [("a", "=", "1"), ("b", "!=", "2"), ("c", "=~", "3|4")]),
    ('{a="1", b!~"x y"}', [("a", "=", "1"), ("b", "!~", "x y")]),
    ('route="/chat, v2"', [("route", "=", "/chat, v2")]),
    (r'q="say \"hi\" \\ bye"', [("q", "=", 'say "hi" \\ bye')]),
    ('empty=""', [("empty", "=", "")]),
    ("", []),
])
def test_amtool_syntax(text, parsed):
    assert [(m.key, m.op, m.value) for m in parse_matcher_text(text)] == parsed


@pytest.mark.parametrize("text, says", [
    ("oops", "cannot read a matcher at 'oops'"),
    ("=x", "cannot read a matcher"),
    ('a="unterminated', "cannot read a matcher"),
    ("kind=~(", "kind: invalid regular expression"),
])
def test_what_cannot_be_read_says_what_is_accepted(text, says):
    with pytest.raises(MatcherError, match=says.replace("(", r"\(")):
        parse_matcher_text(text)


@pytest.mark.parametrize("text, selected", [
    ('kind=~"rate|threshold"', True),
    ('service.name!="checkout"', False),
    ('severity!~"warn.*"', False),
    ('service.name=checkout severity=~"warn.*"', True),
    ('app.route="/chat, v2"', True),
])
def test_text_and_spec_forms_select_the_same(text, selected):
    written = parse_matcher_text(text)
    assert matches(written, LABELS) is selected
    assert matches(parse_matchers(matcher_spec(written)), LABELS) is selected  # as a silence stores them


@pytest.mark.parametrize("text", ['a="!=x"', 'a="=~x"', 'a="=x"', 'a!="=x"', 'a=~"!x"'])
def test_values_that_look_like_operators_survive_the_spec_form(text):
    [matcher] = parse_matcher_text(text)
    assert parse_matchers(matcher_spec([matcher])) == (matcher,)


def test_the_yaml_forms_still_work():
    assert [(m.key, m.op, m.value) for m in parse_matchers({"a": "x", "b": "!=y", "c": "=~z|w", "d": "!~v"})] == [
        ("a", "=", "x"), ("b", "!=", "y"), ("c", "=~", "z|w"), ("d", "!~", "v")]
