"""The one duration grammar (detectors.durations), as every command and incident spec reads it."""
from __future__ import annotations

import argparse

import pytest

from inferwatch.detectors.durations import DurationError, parse_duration, positive_duration
from inferwatch.detectors.incidents import parse_incident


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("30m", 1800), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("90", 90), ("2.5", 2.5),
    ("1.5h", 5400), ("250ms", 0.25), ("1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5), ("0", 0),
    (" 15m ", 900), (45, 45), (1.5, 1.5),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text, says", [
    ("", "expected <number><unit> parts with units w, d, h, m, s, ms"),
    ("2x", "expected <number><unit> parts with units w, d, h, m, s, ms"),
    ("-1h", "expected <number><unit>"),
    ("1h 30m", "expected <number><unit>"),
    ("h", "expected <number><unit>"),
    ("30m1h", "units must go from largest to smallest, each once"),
    ("1h1h", "units must go from largest to smallest, each once"),
    (-5, "must be a number of seconds >= 0"),
])
def test_bad_durations_say_what_is_accepted(text, says):
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert says in str(caught.value) and repr(text) in str(caught.value)
    assert "e.g. 90s, 30m, 1h30m, 2d, 1w" in str(caught.value) or isinstance(text, int)


@pytest.mark.parametrize("text", ["0", "0s", "0h0m"])
def test_a_span_that_must_last_refuses_zero(text):
    with pytest.raises(DurationError, match="must be more than 0"):
        positive_duration(text)


def test_argparse_shows_the_grammar_not_a_generic_message(capsys):
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--for", type=parse_duration)
    assert parser.parse_args(["--for", "1h30m"]).__dict__["for"] == 5400
    with pytest.raises(SystemExit):
        parser.parse_args(["--for", "soon"])
    assert "invalid duration 'soon': expected <number><unit> parts" in capsys.readouterr().err


def test_incident_specs_use_the_same_grammar():
    incident = parse_incident("latency_spike@1h30m+1w:service.name=chat")
    assert (incident.start_s, incident.duration_s) == (5400, 604800)
    with pytest.raises(ValueError, match="latency_spike@1q\\+1m: invalid duration '1q'"):
        parse_incident("latency_spike@1q+1m")
