"""How well ``inferwatch score`` ranks the start of anomalies above normal rows, old score against new.

    .venv/bin/python scripts/score_eval.py [--seeds 101-110] [--k 5] [--param tail_dof=5 ...] [--csv-dir DIR]

1. Generates labelled operational series from seeds (the assumptions are in each generator's docstring): level
   shifts, daily + weekly seasonality, heavy tails, flat quantised stretches, gaps with irregular timestamps, a
   drifting AR(1) series. Labels mark anomaly windows; the normal quirks (single heavy-tail outliers, one-count
   wiggles, gaps, the rhythm itself) are not labelled.
2. Scores every series causally with the old score (the live pipeline's guarded adaptive threshold, bounded in
   [0, 1]) and the new one (``streams.score.scores``: ``SeasonalBaseline`` surprise, with timestamps and without).
3. A row is positive if it is within the first ``k`` rows of a labelled window, negative if it is in no window
   (later rows of a window are left out: re-alarming there is neither right nor wrong). Per series: ROC-AUC and
   best F1 over thresholds. Over the corpus: one threshold for every series (the sweep a user would do), its F1,
   windows caught (an alarm in the first ``k`` rows) and false-alarm rows per 1,000 normal rows, against "never
   alarm" and a random detector (AUC 0.5; its best F1 is alarming on every row), and the share of rows at the
   score's ceiling. The sweep table prints the threshold a user can start from.

No public labelled operational series ship in a package this project can install (checked: adtk, luminaire,
tsb-uad wheels carry no data), so the corpus is synthetic; ``--csv-dir`` also writes each series as a CSV for the
CLI (``inferwatch score FILE --value-column value --timestamp-column timestamp``).
"""
from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inferwatch.detectors.adaptive_threshold import AdaptiveThreshold  # noqa: E402
from inferwatch.detectors.config import DetectorSettings  # noqa: E402
from inferwatch.detectors.signals import guarded  # noqa: E402
from inferwatch.streams.score import scores  # noqa: E402

#: a Monday 00:00 UTC, so hour-of-week profiles line up with real weeks
START_S = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()


@dataclass
class Series:
    name: str
    stamps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    windows: list[tuple[int, int]] = field(default_factory=list)  # [start, end) row ranges of labelled anomalies


def _heavy(rng: random.Random, dof: float) -> float:
    """A Student-t draw with ``dof`` degrees of freedom (heavy tails for small ``dof``)."""
    return rng.gauss(0.0, 1.0) / math.sqrt(rng.gammavariate(dof / 2.0, 2.0 / dof))


def _starts(rng: random.Random, n: int, count: int, first: int, gap: int) -> list[int]:
    """``count`` anomaly starts after ``first``, at least ``gap`` rows apart."""
    while True:
        starts = sorted(rng.sample(range(first, n - gap), count))
        if all(b - a >= gap for a, b in zip(starts, starts[1:])):
            return starts


def level_shifts(rng: random.Random) -> Series:
    """5-minute series, normal noise (3 % of level); 3 lasting shifts of 4-10 sd (labelled: their first 10 rows) and
    2 one-row spikes of 6-12 sd."""
    s, n, base = Series("level_shifts"), 2000, rng.uniform(20, 200)
    sd = 0.03 * base
    starts = _starts(rng, n, 5, 300, 150)
    shift_at, spike_at = set(starts[:3]), set(starts[3:])
    level = base
    for i in range(n):
        if i in shift_at:
            level += rng.choice((-1, 1)) * rng.uniform(4, 10) * sd
            s.windows.append((i, i + 10))
        spike = 0.0
        if i in spike_at:
            spike = rng.choice((-1, 1)) * rng.uniform(6, 12) * sd
            s.windows.append((i, i + 1))
        s.stamps.append(START_S + 300.0 * i)
        s.values.append(level + spike + rng.gauss(0, sd))
    return s


def seasonal(rng: random.Random) -> Series:
    """Hourly request volume over 6 weeks: a business-hours peak (x3), weekends at half, noise 5 %; anomalies after
    the first 2 weeks: 3 spikes of +40 %, one missing weekday peak (3 hours at night level), one night peak (3 h)."""
    s, n, base = Series("seasonal"), 24 * 42, rng.uniform(100, 1000)

    def normal(i: int) -> float:
        hour, day = i % 24, (i // 24) % 7
        daily = 1.0 + 2.0 * math.exp(-((hour - 14) / 3.0) ** 2)
        return base * daily * (0.5 if day >= 5 else 1.0)
    starts = _starts(rng, n - 30, 5, 24 * 14, 48)
    kinds = dict(zip(starts, ("spike", "spike", "spike", "missing", "night")))
    effect: dict[int, float] = {}
    for start, kind in kinds.items():
        if kind == "spike":
            effect[start] = 0.4 * normal(start)
            s.windows.append((start, start + 1))
        else:
            day0 = start - start % 24
            if kind == "missing":
                day0 += 24 * (2 - (day0 // 24) % 7) if (day0 // 24) % 7 >= 5 else 0  # a weekday
                rows = range(day0 + 13, day0 + 16)
            else:
                rows = range(day0 + 2, day0 + 5)
            for i in rows:
                effect[i] = (normal(day0 + 3) - normal(i)) if kind == "missing" else 2.0 * base
            s.windows.append((rows[0], rows[-1] + 1))
    for i in range(n):
        s.stamps.append(START_S + 3600.0 * i)
        s.values.append(max(0.0, normal(i) + effect.get(i, 0.0) + rng.gauss(0, 0.05 * normal(i))))
    return s


def heavy_tails(rng: random.Random) -> Series:
    """1-minute latency-like series, Student-t(2.5) noise (single huge outliers are normal here); anomalies: 2 lasting
    shifts of 8 scale units (first 10 rows), 2 bursts of +15 scale units for 5 rows."""
    s, n, base, scale = Series("heavy_tails"), 3000, rng.uniform(50, 500), rng.uniform(1, 5)
    starts = _starts(rng, n - 10, 4, 400, 200)
    level, burst_until = base, -1
    for i in range(n):
        if i in starts[:2]:
            level += 8 * scale
            s.windows.append((i, i + 10))
        if i in starts[2:]:
            burst_until = i + 5
            s.windows.append((i, i + 5))
        s.stamps.append(START_S + 60.0 * i)
        s.values.append(level + (15 * scale if i < burst_until else 0.0) + scale * _heavy(rng, 2.5))
    return s


def flat_stretches(rng: random.Random) -> Series:
    """1-minute integer gauge (queue depth): long flat stretches at a level, stretches of +-1 wiggles; anomalies: 2
    jumps to 3-5x the level for 8 rows, one drop to 0 for 8 rows."""
    s, n, level = Series("flat_stretches"), 2000, rng.randint(5, 30)
    starts = _starts(rng, n - 10, 3, 300, 150)
    wiggly = False
    effect: dict[int, float] = {}
    for k, start in enumerate(starts):
        target = 0.0 if k == 2 else level * rng.uniform(3, 5)
        for i in range(start, start + 8):
            effect[i] = target
        s.windows.append((start, start + 8))
    for i in range(n):
        if rng.random() < 0.01:
            wiggly = not wiggly
        value = effect.get(i, level + (rng.choice((-1, 0, 0, 1)) if wiggly else 0))
        s.stamps.append(START_S + 60.0 * i)
        s.values.append(float(value))
    return s


def gaps(rng: random.Random) -> Series:
    """Irregular samples (exponential gaps, mean 2 min) of a daily sinusoid over 5 days with 4 outages of 1-6 hours
    (no rows); anomalies: 3 spikes of 8 sd, one lasting shift of 6 sd (first 10 rows)."""
    s, base, amp, sd = Series("gaps"), rng.uniform(40, 60), rng.uniform(5, 15), rng.uniform(0.5, 1.5)
    t, end = START_S, START_S + 5 * 86400.0
    outages = sorted(START_S + rng.uniform(86400, 4.5 * 86400) for _ in range(4))
    while t < end:
        s.stamps.append(t)
        t += rng.expovariate(1 / 120.0)
        if outages and t > outages[0]:
            t += rng.uniform(3600, 6 * 3600)
            outages.pop(0)
    n = len(s.stamps)
    starts = _starts(rng, n - 10, 4, n // 3, 100)
    shift = 0.0
    for i, stamp in enumerate(s.stamps):
        if i == starts[3]:
            shift = 6 * sd
            s.windows.append((i, i + 10))
        spike = 8 * sd if i in starts[:3] else 0.0
        if spike:
            s.windows.append((i, i + 1))
        s.values.append(base + amp * math.sin(2 * math.pi * stamp / 86400.0) + shift + spike + rng.gauss(0, sd))
    return s


def drifting(rng: random.Random) -> Series:
    """5-minute CPU-like percentage: AR(1) with phi 0.98 around 40 %, clipped to [0, 100]; anomalies: 3 spikes of
    +30 points for 2 rows."""
    s, n = Series("drifting"), 2000
    starts = _starts(rng, n - 5, 3, 300, 200)
    x = 40.0
    for i in range(n):
        x = 40.0 + 0.98 * (x - 40.0) + rng.gauss(0, 1.5)
        bump = 30.0 if any(0 <= i - a < 2 for a in starts) else 0.0
        if i in starts:
            s.windows.append((i, i + 2))
        s.stamps.append(START_S + 300.0 * i)
        s.values.append(min(100.0, max(0.0, x + bump)))
    return s


GENERATORS = (level_shifts, seasonal, heavy_tails, flat_stretches, gaps, drifting)


def corpus(seeds: list[int]) -> list[Series]:
    out = []
    for seed in seeds:
        for k, generator in enumerate(GENERATORS):
            series = generator(random.Random(1000 * seed + k))
            series.name = f"{series.name}/{seed}"
            out.append(series)
    return out


def old_scores(values: list[float]) -> list[float]:
    """The score before issue 7: the live pipeline's guarded adaptive threshold, a bounded normal tail score."""
    settings = DetectorSettings()
    detector = guarded(AdaptiveThreshold("both", settings.baseline.half_life_buckets, min_std=0.0), settings)
    out = []
    for x in values:
        out.append(detector.score_one(x))
        detector.learn_one(x)
    return out


def labelled(series: Series, k: int) -> list[bool | None]:
    """Per row: True within the first ``k`` rows of a window, False outside every window, None otherwise."""
    labels: list[bool | None] = [False] * len(series.values)
    for start, end in series.windows:
        for i in range(start, min(end, len(labels))):
            labels[i] = True if i < start + k else (None if labels[i] is not True else True)
    return labels


def auc(pairs: list[tuple[float, bool]]) -> float:
    """ROC-AUC by average ranks (ties count half)."""
    ranked = sorted(pairs, key=lambda p: p[0])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += sum(1 for p in ranked[i:j] if p[1]) * (i + j + 1) / 2.0
        i = j
    pos = sum(1 for _, y in pairs if y)
    neg = len(pairs) - pos
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg) if pos and neg else float("nan")


def sweep(pairs: list[tuple[float, bool]]) -> list[tuple[float, int, int]]:
    """``(threshold, true alarms, false alarms)`` for alarming at score >= each distinct score, highest first."""
    out, tp, fp = [], 0, 0
    ranked = sorted(pairs, key=lambda p: -p[0])
    for i, (score, y) in enumerate(ranked):
        tp, fp = tp + y, fp + (not y)
        if i + 1 == len(ranked) or ranked[i + 1][0] != score:
            out.append((score, tp, fp))
    return out


def f1(tp: int, fp: int, positives: int) -> float:
    return 2.0 * tp / (tp + fp + positives) if tp else 0.0


def best_f1(pairs: list[tuple[float, bool]]) -> tuple[float, float]:
    """``(best F1, its threshold)``; never alarming gives F1 0."""
    positives = sum(y for _, y in pairs)
    return max(((f1(tp, fp, positives), t) for t, tp, fp in sweep(pairs)), default=(0.0, math.inf))


@dataclass
class Scored:
    series: Series
    scores: list[float]
    labels: list[bool | None]

    def pairs(self) -> list[tuple[float, bool]]:
        return [(s, y) for s, y in zip(self.scores, self.labels) if y is not None]


def report(name: str, scored: list[Scored], k: int, ceiling: float | None) -> dict:
    pooled = [p for s in scored for p in s.pairs()]
    f1_best, threshold = best_f1(pooled)
    caught = sum(any(sc.scores[i] >= threshold for i in range(a, min(a + k, b)))
                 for sc in scored for a, b in sc.series.windows)
    windows = sum(len(sc.series.windows) for sc in scored)
    negatives = sum(1 for _, y in pooled if not y)
    false_rows = sum(1 for s, y in pooled if not y and s >= threshold)
    at_ceiling = (sum(s >= ceiling for sc in scored for s in sc.scores) / sum(len(sc.scores) for sc in scored)
                  if ceiling is not None else 0.0)
    per_series = [auc(s.pairs()) for s in scored]
    return {"name": name, "auc": auc(pooled), "mean_auc": sum(per_series) / len(per_series),
            "mean_f1": sum(best_f1(s.pairs())[0] for s in scored) / len(scored), "f1": f1_best,
            "threshold": threshold, "caught": f"{caught}/{windows}",
            "false_per_1000": 1000.0 * false_rows / negatives, "ceiling": at_ceiling}


def _params(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, text = item.partition("=")
        out[key] = None if text == "None" else float(text)
    return out


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="101-110", help="held-out seeds (tuning used 1-3); a-b or a,b,c")
    parser.add_argument("--k", type=int, default=5, help="rows at the start of a window that count as positive")
    parser.add_argument("--param", action="append", default=[], help="SeasonalBaseline parameter override, k=v")
    parser.add_argument("--csv-dir", help="also write each series as CSV (timestamp, value, label) here")
    args = parser.parse_args(argv)
    params = _params(args.param)
    series = corpus(_seeds(args.seeds))
    if args.csv_dir:
        _write_csvs(series, args.k, Path(args.csv_dir))
    runs = {
        "old score (adaptive threshold, [0, 1])": (lambda s: old_scores(s.values), 1.0),
        "new score, no timestamps": (lambda s: list(scores(s.values, **params)), None),
        "new score, with timestamps": (lambda s: list(scores(s.values, s.stamps, **params)), None),
    }
    rows = []
    for name, (score, ceiling) in runs.items():
        scored = [Scored(s, score(s), labelled(s, args.k)) for s in series]
        rows.append(report(name, scored, args.k, ceiling))
        if name.endswith("with timestamps"):
            new = scored
    pooled = [p for s in series for p in Scored(s, [0.0] * len(s.values), labelled(s, args.k)).pairs()]
    base_rate = sum(y for _, y in pooled) / len(pooled)
    print(f"{len(series)} series ({len(GENERATORS)} kinds x seeds {args.seeds}), {len(pooled)} scored rows, "
          f"positives = first {args.k} rows of a window ({100 * base_rate:.2f} % of rows)\n")
    print("| score | pooled AUC | mean AUC per series | mean best F1 per series | F1 at one corpus threshold "
          "| threshold | windows caught | false alarms per 1,000 normal rows | rows at the ceiling |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['auc']:.3f} | {r['mean_auc']:.3f} | {r['mean_f1']:.3f} | {r['f1']:.3f} "
              f"| {r['threshold']:.6g} | {r['caught']} | {r['false_per_1000']:.1f} | {100 * r['ceiling']:.1f} % |")
    print(f"| never alarm | 0.500 | 0.500 | 0.000 | 0.000 | inf | 0 | 0.0 | - |")
    print(f"| random | 0.500 | 0.500 | ~{2 * base_rate / (1 + base_rate):.3f} | {2 * base_rate / (1 + base_rate):.3f} "
          f"| alarm always | all | 1000.0 | - |")
    print("\nPer kind (new score, with timestamps): mean AUC, mean best F1")
    for generator in GENERATORS:
        kind = [s for s in new if s.series.name.startswith(generator.__name__ + "/")]
        print(f"- {generator.__name__}: {sum(auc(s.pairs()) for s in kind) / len(kind):.3f}, "
              f"{sum(best_f1(s.pairs())[0] for s in kind) / len(kind):.3f}")
    print("\nThreshold sweep (new score, with timestamps, pooled):")
    print("| threshold | windows caught | precision | false alarms per 1,000 normal rows |")
    print("|---|---|---|---|")
    pooled_new = [p for s in new for p in s.pairs()]
    negatives = sum(1 for _, y in pooled_new if not y)
    windows = sum(len(s.series.windows) for s in new)
    for threshold in (2.0, 3.0, 4.0, 5.0, 6.0, 8.0):
        caught = sum(any(s.scores[i] >= threshold for i in range(a, min(a + args.k, b)))
                     for s in new for a, b in s.series.windows)
        tp = sum(1 for v, y in pooled_new if y and v >= threshold)
        fp = sum(1 for v, y in pooled_new if not y and v >= threshold)
        print(f"| {threshold:g} | {caught}/{windows} | {tp / max(tp + fp, 1):.2f} | {1000.0 * fp / negatives:.1f} |")
    return 0


def _write_csvs(series: list[Series], k: int, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in series:
        labels = labelled(s, k)
        with open(folder / (s.name.replace("/", "_") + ".csv"), "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["timestamp", "value", "label"])
            for stamp, value, label in zip(s.stamps, s.values, labels):
                iso = datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z")
                writer.writerow([iso, f"{value:.6g}", "" if label is None else int(label)])


if __name__ == "__main__":
    sys.exit(main())
