"""An alert's recent records as an inline SVG: the value, the expected baseline and its band, the anomalies marked.

Drawn on the server from the records the store keeps per alert (``AlertStore.records``), so the page needs no script.
A record's band is its ``band_lower``/``band_upper``, its ``band`` (``[low, high]`` or ``{"low", "high"}``) or an
``expected`` given as bounds (``{"low": …, "high": …}``; one bound alone is drawn as a threshold line); a numeric
``expected`` is the baseline. Records without any of these are drawn without a band (the detectors' records carry
value, expected and score today; the band is exported as metrics by ``streams.signal_metrics``).
Points of ``status: firing`` records are the anomalies (red, the latest one larger), ``resolved`` ones green.

>>> svg = records_svg([{"time_unix_nano": 0, "value": 1.0, "expected": 0.5, "band": [0.2, 0.8], "status": "firing"},
...                    {"time_unix_nano": 60 * 10**9, "value": 0.4, "expected": 0.5, "status": "resolved"}])
>>> svg.startswith("<svg") and svg.count("<circle") == 2 and 'class="band"' in svg
True
>>> records_svg([{"value": "n/a"}])
''
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import Any, Iterable

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
COLOURS = {"value": "#1f5fbf", "expected": "#666", "band": "#9cc3f5", "firing": "#d0312d", "resolved": "#2e8b57"}


@dataclass(frozen=True)
class Point:
    t: float  # seconds
    value: float
    expected: float | None
    low: float | None
    high: float | None
    status: str
    score: float | None


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def _bounds(record: dict[str, Any]) -> tuple[float | None, float | None]:
    band, expected = record.get("band"), record.get("expected")
    if "band_lower" in record or "band_upper" in record:  # the names the signal metrics use for the same edges
        return _number(record.get("band_lower")), _number(record.get("band_upper"))
    if isinstance(band, (list, tuple)) and len(band) == 2:
        return _number(band[0]), _number(band[1])
    for source in (band, expected):
        if isinstance(source, dict):
            return (_number(source.get("low", source.get("lower"))), _number(source.get("high", source.get("upper"))))
    return None, None


def points(records: Iterable[dict[str, Any]]) -> list[Point]:
    """The plottable records (a finite numeric ``value`` and an event time), in time order."""
    out = []
    for r in records:
        value, t = _number(r.get("value")), _number(r.get("time_unix_nano"))
        if value is None or t is None:
            continue
        low, high = _bounds(r)
        out.append(Point(t / 1e9, value, _number(r.get("expected")), low, high, str(r.get("status", "firing")),
                         _number(r.get("score"))))
    return sorted(out, key=lambda p: p.t)


def records_svg(records: Iterable[dict[str, Any]], unit: str = "") -> str:
    """The SVG element (empty when no record has a numeric value)."""
    pts = points(records)
    if not pts:
        return ""
    ys = [y for p in pts for y in (p.value, p.expected, p.low, p.high) if y is not None]
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.1 or abs(y1) * 0.1 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    t0, t1 = pts[0].t, pts[-1].t
    span = (t1 - t0) or 1.0

    def x(t: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * ((t - t0) / span if t1 > t0 else 0.5)

    def y(v: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (v - y0) / (y1 - y0))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="recent values of this alert">',
             f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
             f'fill="#fafafa" stroke="#ddd"/>']
    banded = [p for p in pts if p.low is not None and p.high is not None]
    if banded:
        if len(banded) == 1:
            b = banded[0]
            parts.append(f'<rect class="band" x="{x(b.t) - 6:.1f}" y="{y(b.high):.1f}" width="12" '
                         f'height="{max(y(b.low) - y(b.high), 1):.1f}" fill="{COLOURS["band"]}" opacity="0.5"/>')
        else:
            ring = [(x(p.t), y(p.high)) for p in banded] + [(x(p.t), y(p.low)) for p in reversed(banded)]
            parts.append(f'<polygon class="band" points="{_coords(ring)}" fill="{COLOURS["band"]}" opacity="0.5"/>')
    for name in ("high", "low"):  # a one-sided bound (a threshold) is a line
        line = [(x(p.t), y(getattr(p, name))) for p in pts
                if getattr(p, name) is not None and (p.low is None or p.high is None)]
        if line:
            parts.append(_line(line if len(line) > 1 else [(LEFT, line[0][1]), (WIDTH - RIGHT, line[0][1])],
                               COLOURS["band"], "threshold", dash="2 3"))
    expected = [(x(p.t), y(p.expected)) for p in pts if p.expected is not None]
    if expected:
        parts.append(_line(expected, COLOURS["expected"], "expected", dash="6 4"))
    parts.append(_line([(x(p.t), y(p.value)) for p in pts], COLOURS["value"], "value"))
    latest_firing = max((i for i, p in enumerate(pts) if p.status == "firing"), default=None)
    for i, p in enumerate(pts):
        colour = COLOURS["resolved"] if p.status == "resolved" else COLOURS["firing"]
        tip = f"{_when(p.t)} value {p.value:.4g}" + (f" expected {p.expected:.4g}" if p.expected is not None else "") \
            + (f" score {p.score:.4g}" if p.score is not None else "") + f" ({p.status})"
        parts.append(f'<circle class="{"anomaly" if p.status == "firing" else "recovery"}" cx="{x(p.t):.1f}" '
                     f'cy="{y(p.value):.1f}" r="{7 if i == latest_firing else 4}" fill="{colour}">'
                     f"<title>{escape(tip)}</title></circle>")
    for v in (y0 + pad, y1 - pad):
        parts.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">{v:.4g}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 22}" font-size="11">{_when(t0)}</text>')
    if t1 > t0:
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 22}" text-anchor="end" font-size="11">{_when(t1)}</text>')
    legend = [("value", COLOURS["value"]), ("expected", COLOURS["expected"]), ("band", COLOURS["band"]),
              ("anomaly", COLOURS["firing"]), ("resolved", COLOURS["resolved"])]
    lx = LEFT
    for label, colour in legend:
        parts.append(f'<rect x="{lx}" y="{HEIGHT - 12}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="{HEIGHT - 3}" font-size="11">{label}</text>')
        lx += 90
    if unit:
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 3}" text-anchor="end" font-size="11">'
                     f"{escape(unit)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _coords(xy: list[tuple[float, float]]) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in xy)


def _line(xy: list[tuple[float, float]], colour: str, cls: str, dash: str = "") -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<polyline class="{cls}" points="{_coords(xy)}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dashed}/>')


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%m-%d %H:%M:%S")
