"""The one duration grammar of inferwatch: every command-line option and spec that takes a span of time reads it here.

A duration is a plain number of seconds (``90``, ``2.5``) or one or more ``<number><unit>`` parts with units
``w``, ``d``, ``h``, ``m``, ``s``, ``ms``, largest first, each at most once (Prometheus' form): ``90s``, ``30m``,
``1h30m``, ``2d``, ``1w``, ``1.5h``. Why here: it is a fact every package needs (``silence add --for``,
``simulate --duration``, incident specs), and ``detectors`` is the package every other may import; this module
imports nothing of ours, so using it pulls in no detector.

>>> [parse_duration(text) for text in ("90s", "30m", "1h30m", "2d", "1w", "90", "1.5h", "250ms", "0")]
[90.0, 1800.0, 5400.0, 172800.0, 604800.0, 90.0, 5400.0, 0.25, 0.0]
>>> parse_duration("30m1h")
Traceback (most recent call last):
...
inferwatch.detectors.durations.DurationError: invalid duration '30m1h': units must go from largest to smallest, each once \
(w, d, h, m, s, ms), e.g. 90s, 30m, 1h30m, 2d, 1w, or a plain number of seconds
"""
from __future__ import annotations

import argparse
import re

#: seconds per unit, largest first: the order the parts of a duration must follow
UNITS: dict[str, float] = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
ACCEPTED = "w, d, h, m, s, ms"
EXAMPLES = "e.g. 90s, 30m, 1h30m, 2d, 1w, or a plain number of seconds"
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})(ms|[wdhms])")
_PLAIN = re.compile(rf"{_NUMBER}")


class DurationError(ValueError, argparse.ArgumentTypeError):
    """A duration that does not follow the grammar; the message says what is accepted.

    An ``ArgumentTypeError`` too, so ``parse_duration`` serves directly as an argparse ``type`` and argparse shows
    this message rather than a generic one.
    """


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text`` (see the module docstring for the grammar); ``DurationError`` if it is not a duration."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0 or text != text:
            raise DurationError(f"invalid duration {text!r}: must be a number of seconds >= 0")
        return float(text)
    raw = str(text)
    body = raw.strip()
    if _PLAIN.fullmatch(body):
        return float(body)
    parts = _PART.findall(body)
    if not body or "".join(number + unit for number, unit in parts) != body:
        raise DurationError(f"invalid duration {raw!r}: expected <number><unit> parts with units {ACCEPTED}, "
                            f"{EXAMPLES}")
    order = [list(UNITS).index(unit) for _, unit in parts]
    if order != sorted(set(order)):
        raise DurationError(f"invalid duration {raw!r}: units must go from largest to smallest, each once "
                            f"({ACCEPTED}), {EXAMPLES}")
    return sum(float(number) * UNITS[unit] for number, unit in parts)


def positive_duration(text: str | int | float) -> float:
    """``parse_duration``, refusing zero: for spans that must last (a silence's ``--for``).

    >>> positive_duration("0s")
    Traceback (most recent call last):
    ...
    inferwatch.detectors.durations.DurationError: invalid duration '0s': must be more than 0 (e.g. 90s, 30m, 1h30m, 2d, 1w)
    """
    seconds = parse_duration(text)
    if seconds <= 0:
        raise DurationError(f"invalid duration {text!r}: must be more than 0 (e.g. 90s, 30m, 1h30m, 2d, 1w)")
    return seconds

