"""``inferwatch replay EVENTS --report report.html``: a backtest as one self-contained HTML file (docs/replay-report.md).

The engine emits records only when an episode opens or closes, so to plot a signal over time the report takes its
own snapshot of the detectors whenever a bucket closes: ``ReportRecorder.observe`` reads every primary series
through the engine's read-only ``primary_series`` and asks each signal's detector what the worker's baseline gauges
ask (``streams.signal_metrics``: window value, expected value, the band outside which it fires, score), learning
nothing. The page then shows, per series that fired, that history with the band and the anomalies marked, a table
of episodes with their records, counts per detector, and with a simulator manifest (``inferwatch simulate
--manifest``) the injected incidents marked on the plots and scored by ``detectors.evaluation``.

Everything is inline (CSS, SVG drawn here): the file opens without a network. Record text is redacted and escaped.

>>> html = render([], ReportRecorder.empty(), source="x.jsonl")
>>> html.startswith("<!doctype html>") and "No series fired" in html and "<script" not in html
True
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import Any

from inferwatch.alerting.redact import redact
from inferwatch.alerting.templates import unit_for, with_unit
from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.contract import NS
from inferwatch.detectors.evaluation import evaluate
from inferwatch.detectors.incidents import read_manifest
from inferwatch.streams.signal_metrics import judge

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 860, 220, 70, 12, 12, 34
COLOURS = {"value": "#1f5fbf", "expected": "#555", "band": "#9cc3f5", "firing": "#d0312d", "resolved": "#2e8b57",
           "incident": "#f6c453"}
#: plots per report at most (the series with the most anomalous episodes first)
MAX_PLOTS = 60
#: points per plotted line at most (longer histories are thinned evenly; anomalies are drawn from the records)
MAX_POINTS = 1500


@dataclass
class ReportRecorder:
    """Per (signal, series labels): (t_ns, value, expected, band_lower, band_upper, score) at each closed bucket;
    plus every record the replay emitted."""

    bucket_ns: int
    lateness_ns: int
    judge: Any
    points: dict[tuple, list[tuple]] = field(default_factory=lambda: defaultdict(list))
    records: list[dict] = field(default_factory=list)
    closed: int = 0

    @classmethod
    def for_settings(cls, settings: DetectorSettings) -> "ReportRecorder":
        return cls(int(settings.bucket_s * NS), int(settings.allowed_lateness_s * NS), judge)

    @classmethod
    def empty(cls) -> "ReportRecorder":
        return cls(NS, 0, lambda signal, series: {})

    def add_records(self, records: list[dict]) -> None:
        self.records += records

    def observe(self, pipeline: Any) -> None:
        """After each message: if a bucket closed since the last call, snapshot every primary series' signals."""
        closed = (pipeline.watermark_ns - self.lateness_ns) // self.bucket_ns
        if closed <= self.closed:
            return
        self.closed = closed
        t_ns = closed * self.bucket_ns
        engine = pipeline.engine
        for series in engine.primary_series():
            labels = tuple(sorted(series.labels.items()))
            for signal in engine.signals:
                n = self.judge(signal, series)
                if "value" in n or "expected" in n:
                    self.points[(signal.signal, labels)].append(
                        (t_ns, n.get("value"), n.get("expected"), n.get("band_lower"), n.get("band_upper"),
                         n.get("score")))


@dataclass
class Episode:
    """One fingerprint from its firing record to its resolution (or the end of the file)."""

    fingerprint: str
    signal: str
    labels: dict
    records: list[dict]

    @property
    def first(self) -> dict:
        return self.records[0]

    @property
    def start_ns(self) -> int:
        return self.first.get("episode_started_unix_nano", self.first["time_unix_nano"])

    @property
    def end_ns(self) -> int | None:
        last = self.records[-1]
        return last["time_unix_nano"] if last.get("status") == "resolved" else None


def episodes(records: list[dict]) -> list[Episode]:
    """Records grouped into episodes, in order of their start."""
    grouped: dict[tuple, Episode] = {}
    for r in records:
        key = (r.get("fingerprint"), r.get("episode_started_unix_nano", r["time_unix_nano"]))
        if key not in grouped:
            grouped[key] = Episode(str(r.get("fingerprint")), str(r.get("signal")), dict(r.get("labels") or {}), [])
        grouped[key].records.append(r)
    return sorted(grouped.values(), key=lambda e: (e.start_ns, e.signal))


def render(records: list[dict], recorder: ReportRecorder, manifest: dict | None = None, source: str = "") -> str:
    """The whole HTML page."""
    eps = episodes(records)
    incidents = (manifest or {}).get("incidents") or []
    parts = [_HEAD, f"<h1>inferwatch backtest: {_e(source)}</h1>", _summary(records, eps, recorder)]
    if manifest is not None:
        parts.append(_incidents(records, manifest))
    parts.append(_detector_counts(records, eps))
    parts.append(_plots(eps, recorder, incidents))
    parts.append(_episode_table(eps))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _e(text: Any) -> str:
    return escape(redact(text))


def _when(t_ns: float | None) -> str:
    if t_ns is None:
        return "open"
    return datetime.fromtimestamp(t_ns / NS, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _series(labels: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def _summary(records: list[dict], eps: list[Episode], recorder: ReportRecorder) -> str:
    firing = sum(r.get("status") == "firing" for r in records)
    span = ""
    times = [p[0] for pts in recorder.points.values() for p in (pts[0], pts[-1])] or \
        [r["time_unix_nano"] for r in records]
    if times:
        span = f" from {_when(min(times))} to {_when(max(times))} UTC"
    return (f"<p class=summary>{len(records)} records ({firing} firing) in {len(eps)} episodes on "
            f"{len({e.fingerprint for e in eps})} fingerprints; {len(recorder.points)} signals watched on the primary "
            f"series{span}.</p>")


def _incidents(records: list[dict], manifest: dict) -> str:
    result = evaluate(records, manifest.get("incidents") or [], duration_s=float(manifest.get("duration_s") or 0),
                      start_ns=manifest.get("start_unix_nano"))
    rows = "".join(
        f"<tr class={'hit' if r.detected else 'miss'}><td>{_e(r.kind)}</td><td>{_e(_series(r.labels)) or '*'}</td>"
        f"<td>{r.start_s:.0f} s</td><td>{r.duration_s:.0f} s</td><td>{'detected' if r.detected else 'MISSED'}</td>"
        f"<td>{'-' if r.delay_s is None else f'{r.delay_s:.0f} s'}</td><td>{_e(', '.join(r.signals))}</td></tr>"
        for r in result.rows)
    median = result.median_delay_s()
    return (f"<h2>Injected incidents</h2><p>{result.detected} of {result.injected} detected; median delay (sudden "
            f"kinds) {'-' if median is None else f'{median:.0f} s'}; {result.false_alarm_episodes} false-alarm "
            f"episodes ({result.false_alarm_episodes_per_hour} per hour), {result.side_effect_episodes} side "
            f"effects. Scored by <code>detectors.evaluation</code>.</p><table><tr><th>incident</th><th>labels</th>"
            f"<th>start</th><th>duration</th><th>outcome</th><th>delay</th><th>signals that caught it</th></tr>"
            f"{rows}</table>")


def _detector_counts(records: list[dict], eps: list[Episode]) -> str:
    fired = Counter(r.get("detector") for r in records if r.get("status") == "firing")
    per_episode = Counter(e.first.get("detector") for e in eps)
    rows = "".join(f"<tr><td>{_e(d)}</td><td>{per_episode[d]}</td><td>{fired[d]}</td></tr>"
                   for d in sorted(per_episode, key=lambda d: (-per_episode[d], str(d))))
    return ("<h2>Counts per detector</h2><table><tr><th>detector</th><th>episodes</th><th>firing records</th></tr>"
            f"{rows or '<tr><td colspan=3>none</td></tr>'}</table>")


def _plots(eps: list[Episode], recorder: ReportRecorder, incidents: list[dict]) -> str:
    by_series: dict[tuple, list[Episode]] = defaultdict(list)
    for e in eps:
        by_series[(e.signal, tuple(sorted(e.labels.items())))].append(e)
    if not by_series:
        return "<h2>Series that fired</h2><p>No series fired.</p>"
    ordered = sorted(by_series.items(), key=lambda item: (-len(item[1]), item[0]))
    out = [f"<h2>Series that fired ({len(ordered)})</h2>"]
    for (signal, labels), series_eps in ordered[:MAX_PLOTS]:
        unit = unit_for(signal, series_eps[0].first.get("unit"))
        marks = [r for e in series_eps for r in e.records]
        spans = [i for i in incidents if all(dict(labels).get(k) == v for k, v in (i.get("labels") or {}).items())]
        out.append(f"<section><h3>{_e(signal)} <small>{_e(_series(dict(labels)))}</small></h3>"
                   f"{series_svg(recorder.points.get((signal, labels), []), marks, spans, unit)}</section>")
    if len(ordered) > MAX_PLOTS:
        out.append(f"<p>... and {len(ordered) - MAX_PLOTS} more series (see the episode table).</p>")
    return "\n".join(out)


def _episode_table(eps: list[Episode]) -> str:
    rows = []
    for e in eps:
        first, unit = e.first, unit_for(e.signal, e.first.get("unit"))
        detail = "".join(f"<li>{_when(r['time_unix_nano'])} {_e(r.get('status'))}: {_e(with_unit(r.get('value'), unit))}"
                         f" vs {_e(with_unit(r.get('expected'), unit))}, score {_e(r.get('score'))}</li>"
                         for r in e.records)
        rows.append(f"<tr><td>{_when(e.start_ns)}</td><td>{_when(e.end_ns)}</td><td>{_e(first.get('severity'))}</td>"
                    f"<td>{_e(e.signal)}<br><small>{_e(first.get('kind'))} · {_e(first.get('detector'))}</small></td>"
                    f"<td>{_e(_series(e.labels))}</td><td>{_e(first.get('peak_score', first.get('score')))}</td>"
                    f"<td><ul>{detail}</ul></td></tr>")
    return ("<h2>Episodes</h2><table><tr><th>start (UTC)</th><th>end</th><th>severity</th><th>signal</th>"
            f"<th>series</th><th>peak score</th><th>records</th></tr>{''.join(rows)}</table>")


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def series_svg(points: list[tuple], marks: list[dict], incidents: list[dict], unit: str = "") -> str:
    """One signal over time: the band (filled), expected (dashed), value (line), incidents (shaded spans), and the
    records marked (firing red, resolved green).

    >>> svg = series_svg([(0, 1.0, 1.0, 0.5, 1.5, 0.1), (NS, 3.0, 1.0, 0.5, 1.5, 1.0)],
    ...                  [{"time_unix_nano": NS, "value": 3.0, "status": "firing"}],
    ...                  [{"start_unix_nano": 0, "end_unix_nano": NS}], "s")
    >>> svg.count('class="anomaly"'), 'class="band"' in svg, 'class="incident"' in svg
    (1, True, True)
    """
    if len(points) > MAX_POINTS:
        step = len(points) / MAX_POINTS
        points = [points[int(i * step)] for i in range(MAX_POINTS)]
    mark_pts = [(r["time_unix_nano"], _finite(r.get("value")), r.get("status")) for r in marks]
    ts = [p[0] for p in points] + [m[0] for m in mark_pts]
    ys = [y for p in points for y in map(_finite, p[1:5]) if y is not None] + [m[1] for m in mark_pts if m[1] is not None]
    if not ts or not ys:
        return "<p>(no numeric values to plot)</p>"
    t0, t1 = min(ts), max(ts)
    for inc in incidents:
        t0, t1 = min(t0, inc["start_unix_nano"]), max(t1, inc["end_unix_nano"])
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.08 or abs(y1) * 0.1 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + w * ((t - t0) / (t1 - t0) if t1 > t0 else 0.5)

    def y(v: float) -> float:
        return TOP + h * (1 - (v - y0) / (y1 - y0))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} '
           f'{HEIGHT}" role="img"><rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="#fcfcfc" stroke="#ccc"/>']
    for inc in incidents:
        out.append(f'<rect class="incident" x="{x(inc["start_unix_nano"]):.1f}" y="{TOP}" width="'
                   f'{max(x(inc["end_unix_nano"]) - x(inc["start_unix_nano"]), 1):.1f}" height="{h}" '
                   f'fill="{COLOURS["incident"]}" opacity="0.35"><title>injected: {_e(inc.get("kind"))}</title></rect>')
    for run in _runs([(p[0], _finite(p[3]), _finite(p[4])) for p in points]):
        ring = [(x(t), y(hi)) for t, lo, hi in run] + [(x(t), y(lo)) for t, lo, hi in reversed(run)]
        out.append(f'<polygon class="band" points="{_coords(ring)}" fill="{COLOURS["band"]}" opacity="0.55"/>')
    for index, colour, dash in ((2, COLOURS["expected"], ' stroke-dasharray="5 4"'), (1, COLOURS["value"], "")):
        for run in _runs([(p[0], _finite(p[index])) for p in points]):
            out.append(f'<polyline points="{_coords([(x(t), y(v)) for t, v in run])}" fill="none" stroke="{colour}" '
                       f'stroke-width="1.5"{dash}/>')
    for t, v, status in mark_pts:
        if v is not None:
            cls, colour = ("recovery", COLOURS["resolved"]) if status == "resolved" else ("anomaly", COLOURS["firing"])
            out.append(f'<circle class="{cls}" cx="{x(t):.1f}" cy="{y(v):.1f}" r="5" fill="{colour}"><title>'
                       f'{_when(t)} {escape(str(status))} {v:.4g}</title></circle>')
    for v in (y0 + pad, y1 - pad):
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{escape(with_unit(v, unit))}</text>')
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 18}" font-size="11">{_when(t0)}</text><text x="{WIDTH - RIGHT}" '
               f'y="{HEIGHT - 18}" text-anchor="end" font-size="11">{_when(t1)}</text>')
    lx = LEFT
    for label, colour in (("value", "value"), ("expected", "expected"), ("band (does not fire inside)", "band"),
                          ("firing record", "firing"), ("resolved record", "resolved"), ("injected incident",
                                                                                          "incident")):
        out.append(f'<rect x="{lx}" y="{HEIGHT - 11}" width="10" height="10" fill="{COLOURS[colour]}"/><text '
                   f'x="{lx + 14}" y="{HEIGHT - 2}" font-size="11">{label}</text>')
        lx += 14 + 7 * len(label) + 16
    out.append("</svg>")
    return "".join(out)


def _runs(points: list[tuple]) -> list[list[tuple]]:
    """Stretches of points whose values are all present (a gap, e.g. too few calls, breaks a line)."""
    runs, run = [], []
    for p in points:
        if all(v is not None for v in p[1:]):
            run.append(p)
        elif run:
            runs.append(run)
            run = []
    return [r for r in runs + [run] if len(r) > 1]


def _coords(xy: list[tuple[float, float]]) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in xy)


_HEAD = """<!doctype html><html lang=en><head><meta charset=utf-8><title>inferwatch backtest report</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f3f3f3}tr.miss td{background:#fde8e8}tr.hit td{background:#eaf6ea}
ul{margin:0;padding-left:16px}small{color:#666;font-weight:normal}section{margin:8px 0 18px}
h3{margin:6px 0;font-size:15px}.summary{font-size:15px}</style></head><body>"""


def write_report(path: str, recorder: ReportRecorder, manifest_path: str | None = None, source: str = "") -> None:
    manifest = read_manifest(manifest_path) if manifest_path else None
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render(recorder.records, recorder, manifest, source))
