"""The cells of the traffic-regime matrix: one traffic regime each, generated from a seed, clean and with incidents.

A cell is data: the per-series rate, the latency shape, the regime (rhythm, batch jobs, tenants, delivery faults,
deploys) and the timing that follows from the rate (how long, how long a warm-up, how long each incident lasts).
Thin series get longer cells and longer incidents: at 0.05 calls/s a 5-minute incident holds 15 calls.

>>> [c.name for c in select(MATRIX, ["rate=0.05"])]
['rate=0.05']
>>> [c.name for c in select(MATRIX, ["latency=pareto,rate=5"])]
['latency=pareto']
>>> [c.name for c in select(MATRIX, ["rate=5"])], len(select(MATRIX, ["rate=5,regime=steady"]))
(['rate=5'], 4)
>>> len(select(MATRIX, [])) == len(MATRIX), all(c in MATRIX for c in QUICK)
(True, True)
"""
from __future__ import annotations

from dataclasses import dataclass

LATENCY_SHAPES = ("lognormal", "pareto", "bimodal", "longgen")
REGIMES = ("steady", "daily", "weekly", "batch", "tenants1000", "delivery", "deploys")
#: seeds the detectors may be tuned on, and seeds held out for reporting (never looked at while tuning)
TUNING_SEEDS = (1, 2, 3)
HELD_OUT_SEEDS = (101, 102, 103)


@dataclass(frozen=True)
class Timing:
    """Event-time layout of a cell: total span, the quiet warm-up before the first incident, incident span and gap."""

    duration_s: float
    warmup_s: float
    span_s: float
    gap_s: float
    series: int


def timing_for(rate: float) -> Timing:
    """Longer cells and incidents where traffic is thin; shorter, fewer series where it is dense (replay budget)."""
    if rate <= 0.5:
        return Timing(duration_s=4 * 3600.0, warmup_s=3600.0, span_s=1200.0, gap_s=900.0, series=3)
    if rate <= 5:
        return Timing(duration_s=4500.0, warmup_s=1200.0, span_s=300.0, gap_s=300.0, series=3)
    if rate <= 50:
        return Timing(duration_s=2700.0, warmup_s=900.0, span_s=240.0, gap_s=240.0, series=2)
    return Timing(duration_s=1320.0, warmup_s=600.0, span_s=180.0, gap_s=120.0, series=1)


@dataclass(frozen=True)
class Cell:
    name: str
    rate: float
    latency: str = "lognormal"
    regime: str = "steady"
    #: tenants, Zipf-distributed (s = 1.1) over the calls of each service
    tenants: int = 40
    #: overrides of the rate's timing (a rhythm cell must span its rhythm)
    duration_s: float | None = None

    @property
    def timing(self) -> Timing:
        t = timing_for(self.rate)
        if self.duration_s is not None:
            return Timing(self.duration_s, t.warmup_s, t.span_s, t.gap_s, t.series)
        return t

    def attributes(self) -> dict[str, str]:
        return {"name": self.name, "rate": f"{self.rate:g}", "latency": self.latency, "regime": self.regime}


#: daily rhythm compressed: one "day" lasts this long, so a 2-hour cell covers a whole day
DAY_S = 2 * 3600.0
#: weekly rhythm compressed: a "day" of 12 minutes, a "week" of 7 of them (84 minutes), weekends quiet
WEEK_DAY_S = 720.0

MATRIX: tuple[Cell, ...] = (
    *(Cell(f"rate={r:g}", r) for r in (0.05, 0.5, 5.0, 50.0, 500.0)),
    *(Cell(f"latency={shape}", 5.0, latency=shape) for shape in LATENCY_SHAPES[1:]),
    Cell("latency=pareto,rate=0.5", 0.5, latency="pareto"),
    Cell("latency=longgen,rate=0.5", 0.5, latency="longgen"),
    Cell("regime=daily", 5.0, regime="daily", duration_s=DAY_S),
    Cell("regime=weekly", 5.0, regime="weekly", duration_s=5400.0),
    Cell("regime=batch", 5.0, regime="batch"),
    Cell("regime=tenants1000", 5.0, regime="tenants1000", tenants=1000),
    Cell("regime=tenants1000,rate=0.5", 0.5, regime="tenants1000", tenants=1000),
    Cell("regime=delivery", 5.0, regime="delivery"),
    Cell("regime=deploys", 5.0, regime="deploys"),
)
#: a small, cheap subset for tuning loops (--quick): thin traffic, a heavy tail, deploys
QUICK: tuple[Cell, ...] = tuple(c for c in MATRIX if c.name in ("rate=0.5", "latency=pareto", "regime=deploys"))


def select(cells: tuple[Cell, ...], filters: list[str]) -> list[Cell]:
    """Cells matching any filter. A filter that is a cell's name picks that cell; otherwise it is ``key=value,...``
    over ``Cell.attributes`` (all must match), where a cell's name leaves out its defaults (``rate=5,regime=steady``
    matches ``latency=pareto`` too)."""
    if not filters:
        return list(cells)
    names = {c.name for c in cells}
    chosen = []
    for cell in cells:
        attributes = cell.attributes()
        for spec in filters:
            pairs = [p.partition("=") for p in spec.split(",") if p]
            if spec == cell.name or (spec not in names and all(attributes.get(k) == _norm(k, v) for k, _, v in pairs)):
                chosen.append(cell)
                break
    return chosen


def _norm(key: str, value: str) -> str:
    if key == "rate":
        try:
            return f"{float(value):g}"
        except ValueError:
            return value
    return value
