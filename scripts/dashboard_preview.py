"""A picture of the inferwatch Grafana dashboard without Grafana (which Debian does not package): run every panel's
own PromQL (``targets[].expr`` of docs/grafana/inferwatch.json) through a real Prometheus' ``/api/v1/query_range``,
lay the answers out on the dashboard's grid (``gridPos``) as one self-contained HTML page (inline SVG, no script,
no network), and screenshot it with headless chromium.

    .venv/bin/python scripts/dashboard_preview.py --prometheus http://127.0.0.1:9090 --last 5m --scrape-interval 2s

Variables are substituted as Grafana would with "All" selected: a variable's ``allValue`` (``$service`` -> ``.*``),
``$__interval`` is the step, ``$__rate_interval`` is max(step + scrape interval, 4 x scrape interval).
The annotation query (firing anomaly records) is drawn as red marks on every panel's time axis.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from inferwatch.detectors.durations import parse_duration  # noqa: E402  (one duration grammar for the project)

DASHBOARD = ROOT / "docs" / "grafana" / "inferwatch.json"
#: points per panel; the step is the range divided by this, never below the scrape interval
POINTS = 240
GRID_COLUMNS = 24
HEADER_PX = 44
GAP_PX = 6
#: Grafana's dark theme classic palette
COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0", "#37872d",
          "#fade2a", "#447ebc", "#c15c17", "#890f02", "#0a437c", "#6d1f62", "#584477"]
TITLE_PX, LEGEND_PX = 24, 44  # a panel's title bar and its legend (three lines at most) around the plot
PAD_L, PAD_R, PAD_B, PAD_T = 58, 8, 18, 6


def substitute(expr: str, variables: dict[str, str]) -> str:
    """``expr`` with every ``$name`` replaced, longest names first (``$__rate_interval`` before ``$__interval``)."""
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace(f"${name}", variables[name])
    return expr


def dashboard_variables(dashboard: dict, step_s: float, scrape_s: float) -> dict[str, str]:
    """What Grafana puts for each variable with "All" (or the saved value) selected, and its interval macros."""
    values = {"__interval": f"{int(step_s)}s", "__rate_interval": f"{int(max(step_s + scrape_s, 4 * scrape_s))}s"}
    for var in dashboard.get("templating", {}).get("list", []):
        current = var.get("current", {}).get("value")
        if var.get("includeAll") and current in (None, "$__all", ["$__all"]):
            values[var["name"]] = var.get("allValue") or ".*"
        else:
            values[var["name"]] = current if isinstance(current, str) else "|".join(current or [".*"])
    return values


def query_range(base: str, expr: str, start: float, end: float, step: float) -> list[dict]:
    """The matrix Prometheus returns for ``expr``; an error names the query."""
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base.rstrip('/')}/api/v1/query_range?{params}", timeout=30) as resp:
        body = json.loads(resp.read())
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body.get('error')}")
    return body["data"]["result"]


def legend(fmt: str | None, labels: dict[str, str]) -> str:
    if fmt:
        text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()
        if text:
            return text
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
    return labels.get("__name__", "") + (f"{{{inner}}}" if inner else "") or "value"


def format_value(value: float, unit: str | None) -> str:
    """A short axis label in the panel's unit (the few units the dashboard uses)."""
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    if unit == "currencyUSD":
        return "$" + format_value(value, None)
    if unit == "reqps":
        return f"{value:.3g} req/s"
    if unit == "s":
        if value and abs(value) < 1:
            return f"{value * 1000:.3g} ms"
        return f"{value / 60:.3g} min" if abs(value) >= 120 else f"{value:.3g} s"
    magnitude = abs(value)
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if magnitude >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def panel_svg(series: list[tuple[str, list[tuple[float, float]]]], start: float, end: float, unit: str | None,
              marks: list[float], width: float, height: float) -> str:
    """Inline SVG: y axis from min(0, data) to the data's max, a time axis in local HH:MM:SS, one line per series."""
    values = [v for _, points in series for _, v in points]
    low, high = min(0.0, min(values)), max(values)
    if high <= low:
        high = low + 1.0
    plot_w, plot_h = width - PAD_L - PAD_R, height - PAD_B - PAD_T

    def x(t: float) -> float:
        return PAD_L + (t - start) / (end - start) * plot_w

    def y(v: float) -> float:
        return PAD_T + (high - v) / (high - low) * plot_h

    parts = []
    for i in range(5):
        v = low + (high - low) * i / 4
        parts.append(f'<line x1="{PAD_L}" x2="{width - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="rule"/>'
                     f'<text x="{PAD_L - 5}" y="{y(v) + 3:.1f}" text-anchor="end">{html.escape(format_value(v, unit))}'
                     f"</text>")
    for i in range(5):
        t = start + (end - start) * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text x="{x(t):.1f}" y="{height - 5:.0f}" text-anchor="{anchor}">'
                     f'{time.strftime("%H:%M:%S", time.localtime(t))}</text>')
    for t in marks:
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{PAD_T}" y2="{PAD_T + plot_h}" class="mark"/>')
    for i, (_, points) in enumerate(series):
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(f'<polyline points="{path}" stroke="{COLORS[i % len(COLORS)]}"/>')
    return f'<svg width="{width:.0f}" height="{height:.0f}">{"".join(parts)}</svg>'


def panel_html(panel: dict, base: str, variables: dict[str, str], start: float, end: float, step: float,
               marks: list[float], unit_px: float, width_px: float) -> str:
    pos = panel["gridPos"]
    column_px = width_px / GRID_COLUMNS
    panel_w, panel_h = pos["w"] * column_px - GAP_PX, pos["h"] * unit_px - GAP_PX
    place = (f"left:{pos['x'] * column_px:.0f}px;width:{panel_w:.0f}px;"
             f"top:{pos['y'] * unit_px:.0f}px;height:{panel_h:.0f}px")
    title = html.escape(panel.get("title", ""))
    if panel.get("type") == "row":
        return f'<div class="row" style="{place}">{title}</div>'
    series = []
    for target in panel.get("targets", []):
        for result in query_range(base, substitute(target["expr"], variables), start, end, step):
            points = [(float(t), float(v)) for t, v in result["values"] if v not in ("NaN", "+Inf", "-Inf")]
            if points:
                series.append((legend(target.get("legendFormat"), result["metric"]), points))
    if not series:
        body = '<div class="nodata">No data</div>'
    else:
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        keys = "".join(f'<span><i style="background:{COLORS[i % len(COLORS)]}"></i>{html.escape(name)}</span>'
                       for i, (name, _) in enumerate(series))
        plot = panel_svg(series, start, end, unit, marks, panel_w - 2, panel_h - TITLE_PX - LEGEND_PX - 2)
        body = f'{plot}<div class="legend">{keys}</div>'
    return f'<div class="panel" style="{place}"><div class="title">{title}</div>{body}</div>'


def annotation_times(dashboard: dict, base: str, variables: dict[str, str], start: float, end: float) -> list[float]:
    """Instants where an enabled annotation query has a value (for the dashboard: a firing anomaly record)."""
    times: set[float] = set()
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("enable") and annotation.get("expr"):
            step = parse_duration(annotation.get("step", "30s"))
            for result in query_range(base, substitute(annotation["expr"], variables), start, end, step):
                times.update(float(t) for t, _ in result["values"])
    return sorted(times)


STYLE = """body{margin:0;background:#111217;color:#ccccdc;font:13px Inter,Helvetica,Arial,sans-serif}
header{height:%dpx;display:flex;align-items:center;padding:0 12px;font-size:17px;border-bottom:1px solid #2c2e33}
header small{margin-left:16px;color:#8e8e9a;font-size:12px}
.board{position:relative;margin:6px 0 0 6px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c2e33;border-radius:2px;display:flex;
flex-direction:column;overflow:hidden}
.title{font-weight:500;height:%dpx;box-sizing:border-box;padding:5px 8px;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis}
.row{position:absolute;font-size:15px;font-weight:500;padding-top:4px}
svg{display:block}svg text{fill:#8e8e9a;font-size:10px}svg .rule{stroke:#2c2e33;stroke-width:1}
svg polyline{fill:none;stroke-width:1.5}
svg .mark{stroke:#f2495c;stroke-dasharray:4 4;stroke-width:1}
.legend{padding:2px 8px 0;font-size:10px;height:%dpx;box-sizing:border-box;overflow:hidden;line-height:14px}
.legend span{margin-right:10px;white-space:nowrap;display:inline-block}
.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
.nodata{flex:1;display:flex;align-items:center;justify-content:center;color:#8e8e9a}"""


def render(dashboard: dict, base: str, start: float, end: float, scrape_s: float, width_px: int, height_px: int) -> str:
    """The whole page; the grid's row height is chosen so the dashboard fills ``height_px``."""
    step = max(scrape_s, (end - start) / POINTS)
    variables = dashboard_variables(dashboard, step, scrape_s)
    marks = annotation_times(dashboard, base, variables, start, end)
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    unit_px = (height_px - HEADER_PX - 2 * GAP_PX) / rows
    panels = "".join(panel_html(p, base, variables, start, end, step, marks, unit_px, width_px - 2 * GAP_PX)
                     for p in dashboard["panels"])
    span = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start)) + " to " + time.strftime(
        "%H:%M:%S", time.localtime(end))
    return (f"<!doctype html><meta charset=utf-8><title>{html.escape(dashboard['title'])}</title>"
            f"<style>{STYLE % (HEADER_PX, TITLE_PX, LEGEND_PX)}</style>"
            f"<header>{html.escape(dashboard['title'])}<small>{span} · "
            f"service = All · rendered from {html.escape(base)} by scripts/dashboard_preview.py</small></header>"
            f'<div class="board" style="height:{rows * unit_px:.0f}px">{panels}</div>')


def screenshot(page: str, out: Path, width: int, height: int) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as fh:
        fh.write(page)
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={out.resolve()}", f"file://{fh.name}"],
                   check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--last", default="1h", help="time range ending at --end, e.g. 5m, 1h (default 1h, "
                                                     "the dashboard's own)")
    parser.add_argument("--end", type=float, default=None, help="end of the range, unix seconds (default: now)")
    parser.add_argument("--scrape-interval", default="15s", help="Prometheus' scrape interval, for "
                                                                 "$__rate_interval (default 15s)")
    parser.add_argument("--dashboard", type=Path, default=DASHBOARD)
    parser.add_argument("--html", type=Path, default=None, help="also keep the HTML page here")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "dashboard.png")
    parser.add_argument("--size", default="1600,2400", help="browser window WIDTH,HEIGHT (default 1600,2400)")
    args = parser.parse_args()
    end = args.end if args.end is not None else time.time()
    width, height = (int(n) for n in args.size.split(","))
    page = render(json.loads(args.dashboard.read_text()), args.prometheus, end - parse_duration(args.last), end,
                  parse_duration(args.scrape_interval), width, height)
    if args.html:
        args.html.write_text(page)
    screenshot(page, args.out, width, height)
    print(args.out)


if __name__ == "__main__":
    main()
