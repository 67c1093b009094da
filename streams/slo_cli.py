"""``inferwatch slo``: every declared SLO with its current burn rates and the error budget left, per series.

It reads what the workers checkpoint to Redis (each SLO series' state, ``detectors.slo_series``), so it shows the
live pipeline's view without touching it. A series appears once a worker has checkpointed it; an SLO with no series
yet is listed with none (no event matched its selector, or no worker ran with it declared).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from inferwatch.alerting.command_line import add_output_option
from inferwatch.detectors.config import SloSettings
from inferwatch.detectors.engine import restore_series
from inferwatch.detectors.registry import slo_tag
from inferwatch.streams.checkpoints import checkpoint_store

#: the burn-rate windows shown, by the SLO setting that names each
WINDOWS = ("fast_short_s", "fast_long_s", "slow_short_s", "slow_long_s")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("slo", help="declared SLOs: burn rates and error budget left, per series")
    parser.add_argument("name", nargs="?", help="only this SLO (default: every declared one)")
    add_output_option(parser)
    parser.set_defaults(run=run)


def slo_rows(slo: SloSettings, store) -> list[dict[str, Any]]:
    """One row per checkpointed series of ``slo``: labels, burn rate per window, budget left, firing or not."""
    prefix = json.dumps(slo_tag(slo), separators=(",", ":"))[:-1]  # '{"slo":"name"' : every key of this SLO
    rows = []
    for key in store.keys(prefix + ","):
        series = restore_series(store.load(key))
        detector = series.detectors.get(f"slo.{slo.name}") if series is not None else None
        if detector is None:
            continue
        burns = detector.burn_rates()
        episode = series.episodes.get(f"slo.{slo.name}")
        rows.append({
            "slo": slo.name, "labels": series.labels, "objective": slo.objective, "indicator": slo.indicator,
            "burn": {_window(getattr(slo, w)): round(burns[getattr(slo, w)], 3) for w in WINDOWS},
            "error_budget_left": _rounded(detector.budget_left()),
            "compliance_window": _window(slo.window_s),
            "firing": bool(episode and episode.active),
        })
    return rows


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _window(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def run(args: argparse.Namespace, settings) -> int:
    slos = [s for s in settings.detectors.slos if args.name in (None, s.name)]
    if args.name and not slos:
        known = ", ".join(s.name for s in settings.detectors.slos) or "none declared (detectors.slos)"
        print(f"inferwatch: error: no SLO named {args.name!r} (declared: {known})", file=sys.stderr)
        return 2
    store = checkpoint_store(settings)
    rows = [row for slo in slos for row in slo_rows(slo, store)]
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not settings.detectors.slos:
        print("no SLO declared: add objectives under detectors.slos (docs/slo.md)")
        return 0
    print(f"{'SLO':<20} {'SERIES':<40} {'OBJECTIVE':>9} {'BURN 5m/1h/30m/6h':>24} {'BUDGET LEFT':>11}  FIRING")
    for slo in slos:
        mine = [r for r in rows if r["slo"] == slo.name]
        if not mine:
            print(f"{slo.name:<20} {'(no series yet)':<40} {slo.objective:>9}")
        for r in mine:
            series = ",".join(f"{k}={v}" for k, v in r["labels"].items())
            burns = "/".join(f"{b:g}" for b in r["burn"].values())
            left = "-" if r["error_budget_left"] is None else f"{100 * r['error_budget_left']:.1f}%"
            print(f"{slo.name:<20} {series:<40} {slo.objective:>9} {burns:>24} {left:>11}  "
                  f"{'yes' if r['firing'] else 'no'}")
    return 0
