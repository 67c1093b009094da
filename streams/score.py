"""``inferwatch score SERIES.csv --value-column COL``: anomaly scores for one metric exported from anywhere.

Prints the same rows as CSV with an ``anomaly_score`` column, computed causally (each row is scored before it is
learned) by ``detectors.seasonal_baseline.SeasonalBaseline``. The score is the row's surprise, ``-log10`` of its tail
p-value against the series' own robust baseline: 0 = as expected, 2 = a 1-in-100 surprise, 4 = 1-in-10,000, with no
ceiling, so a higher score always ranks a row as more surprising and one threshold fits many series (docs/score.md
shows how to choose it). A level shift scores high on its first rows and is accepted as the new normal after a short
run; with ``--timestamp-column`` the baseline also follows daily and weekly rhythms and treats gaps as elapsed time.
Rows without a number in the value column get an empty score and are not learned.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import math
import sys
from datetime import datetime, timezone

from inferwatch.alerting.command_line import UserError
from inferwatch.detectors.seasonal_baseline import SeasonalBaseline

SCORE_COLUMN = "anomaly_score"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("score", help="add a causal anomaly_score column (surprise, -log10 p) to a CSV "
                                                 "time series")
    parser.add_argument("series", help="CSV file with a header row; - = stdin")
    parser.add_argument("--value-column", required=True, help="the column holding the numbers to score")
    parser.add_argument("--timestamp-column",
                        help="ISO-8601 times (Z or offsets; no offset = UTC) or epoch seconds, in non-decreasing order: "
                             "enables daily/weekly seasonality and time-based learning across gaps")
    parser.add_argument("--side", choices=("upper", "lower", "both"), default="both",
                        help="which direction is a problem (default both)")
    parser.add_argument("--log", action="store_true", help="judge log(value): for positive, heavy-tailed metrics")
    parser.add_argument("--config", default=argparse.SUPPRESS, help="YAML config file")
    parser.set_defaults(run=run)


def scores(values, stamps=None, side: str = "both", log: bool = False, **params):
    """Yield a surprise (or None) per value, each computed before that value is learned; ``stamps`` are epoch seconds,
    ``params`` override the detector's defaults (``scripts/score_eval.py`` tunes them).

    >>> out = list(scores([10.0 + (i % 5) for i in range(100)] + [40.0, None, 11.0]))
    >>> out[0], out[-3] > 4, out[-2], out[-1] < 1
    (0.0, True, None, True)
    """
    detector = SeasonalBaseline(side, **params)
    for value, stamp in zip(values, stamps if stamps is not None else itertools.repeat(None)):
        if value is None or not math.isfinite(value) or (log and value <= 0):
            yield None
            continue
        x = math.log(value) if log else value
        observation = x if stamp is None else (stamp, x)
        surprise = detector.surprise_one(observation)
        detector.learn_one(observation)
        yield surprise


def parse_timestamp(text: str) -> float:
    """Epoch seconds from epoch seconds or an ISO-8601 time (``Z`` or an offset; none = UTC).

    >>> [parse_timestamp(t) for t in ("2024-03-01T12:00:00Z", "2024-03-01 13:00:00+01:00", "1709294400")]
    [1709294400.0, 1709294400.0, 1709294400.0]
    """
    try:
        return float(text)
    except ValueError:
        pass
    when = datetime.fromisoformat(text.strip())
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _stamps(rows: list[dict], column: str) -> list[float]:
    """Parsed timestamps, or ``UserError`` with a one-line message naming the first bad or out-of-order row."""
    stamps: list[float] = []
    for number, row in enumerate(rows, 1):
        text = row[column] or ""
        try:
            stamp = parse_timestamp(text)
        except ValueError:
            raise UserError(f"row {number}: {column} {text!r} is neither ISO-8601 nor epoch seconds") from None
        if stamps and stamp < stamps[-1]:
            raise UserError(f"row {number}: {column} {text!r} is earlier than row {number - 1}'s "
                            f"{rows[number - 2][column]!r}; sort the rows by {column} first")
        stamps.append(stamp)
    return stamps


def _number(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def run(args, settings) -> int:
    """Print the scored CSV; a missing column or a bad timestamp is a ``UserError`` (``streams.cli.main`` prints it)."""
    source = sys.stdin if args.series == "-" else open(args.series, newline="")
    with source:
        reader = csv.DictReader(source)
        columns = reader.fieldnames or []
        for needed in filter(None, (args.value_column, args.timestamp_column)):
            if needed not in columns:
                raise UserError(f"column {needed!r} not in {args.series} (columns: {', '.join(columns)})")
        rows = list(reader)
    stamps = _stamps(rows, args.timestamp_column) if args.timestamp_column else None
    writer = csv.DictWriter(sys.stdout, fieldnames=[*columns, SCORE_COLUMN], lineterminator="\n")
    writer.writeheader()
    values = (_number(r[args.value_column]) for r in rows)
    for row, score in zip(rows, scores(values, stamps, args.side, args.log)):
        writer.writerow({**row, SCORE_COLUMN: "" if score is None else f"{score:.3f}"})
    return 0
