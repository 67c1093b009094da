"""``inferwatch score SERIES.csv --value-column COL``: anomaly scores for one metric exported from anywhere.

Prints the same rows as CSV with an ``anomaly_score`` column in [0, 1], computed causally: each row is scored before
it is learned, with the adaptive-threshold detector and the warm-up and learning guard the live pipeline uses. The
score is a normal tail probability of the row against the series' own baseline, so it means the same surprise on
any series: one threshold (``detectors.episode.fire_score``) fits many. This is how to tune that threshold on your
own history. Rows without a number in the value column get an empty score and are not learned.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys

from detectors.adaptive_threshold import AdaptiveThreshold
from detectors.config import DetectorSettings
from detectors.signals import guarded

SCORE_COLUMN = "anomaly_score"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("score", help="add a causal anomaly_score column to a CSV time series")
    parser.add_argument("series", help="CSV file with a header row; - = stdin")
    parser.add_argument("--value-column", required=True)
    parser.add_argument("--timestamp-column", help="rows must be in increasing order of this column")
    parser.add_argument("--side", choices=("upper", "lower", "both"), default="both",
                        help="which direction is a problem (default both)")
    parser.add_argument("--log", action="store_true", help="judge log(value): for positive, heavy-tailed metrics")
    parser.add_argument("--config", default=argparse.SUPPRESS, help="YAML config file")
    parser.set_defaults(run=run)


def scores(values, settings: DetectorSettings, side: str = "both", log: bool = False):
    """Yield a score (or None) per value, each computed before that value is learned.

    >>> s = DetectorSettings()
    >>> out = list(scores([10.0 + (i % 5) for i in range(100)] + [40.0, None, 11.0], s))
    >>> out[0], out[-3] > 0.9999, out[-2], out[-1] < 0.9
    (0.0, True, None, True)
    """
    detector = guarded(AdaptiveThreshold(side, settings.baseline.half_life_buckets, min_std=0.0), settings)
    for value in values:
        if value is None or not math.isfinite(value) or (log and value <= 0):
            yield None
            continue
        x = math.log(value) if log else value
        score = detector.score_one(x)
        detector.learn_one(x)
        yield score


def _number(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def run(args, settings) -> int:
    source = sys.stdin if args.series == "-" else open(args.series, newline="")
    with source:
        reader = csv.DictReader(source)
        columns = reader.fieldnames or []
        for needed in filter(None, (args.value_column, args.timestamp_column)):
            if needed not in columns:
                print(f"score: column {needed!r} not in {args.series} (columns: {', '.join(columns)})",
                      file=sys.stderr)
                return 2
        rows = list(reader)
    if args.timestamp_column:
        stamps = [_number(r[args.timestamp_column]) for r in rows]
        if any(a is not None and b is not None and b < a for a, b in zip(stamps, stamps[1:])):
            print(f"score: rows are not in increasing {args.timestamp_column} order; sort them first", file=sys.stderr)
            return 2
    writer = csv.DictWriter(sys.stdout, fieldnames=[*columns, SCORE_COLUMN], lineterminator="\n")
    writer.writeheader()
    values = (_number(r[args.value_column]) for r in rows)
    for row, score in zip(rows, scores(values, settings.detectors, args.side, args.log)):
        writer.writerow({**row, SCORE_COLUMN: "" if score is None else f"{score:.6f}"})
    return 0
