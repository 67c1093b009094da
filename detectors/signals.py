"""Signals: how one detector's observation is read from a series' closed buckets, and how its record is described.

A signal pairs a derived observation (a window mean of log latency, an error count over calls, a call count...) with
a detector built from the settings, and turns the detector's ``(value, expected)`` back into the event's units for the
anomaly record, with exemplars and the label values or pipeline stage that contribute most. The list of signals that
run is ``detectors.registry.build_signals``.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from functools import reduce
from itertools import accumulate
from operator import add, attrgetter
from typing import Any, Callable, Protocol

from scipy.special import erfinv

from inferwatch.detectors.adaptive_threshold import AdaptiveThreshold
from inferwatch.detectors.adwin_drift import AdwinDrift
from inferwatch.detectors.category_mix import CategoryMixDrift
from inferwatch.detectors.concept_drift import ConceptDrift
from inferwatch.detectors.embedding_drift import EmbeddingDrift, EmbeddingWindow
from inferwatch.detectors.base import Detector
from inferwatch.detectors.bucket import SAFETY_FLAGS, STAGE_OFFSET, Bucket, CallBucket
from inferwatch.detectors.config import DetectorSettings, SloSettings
from inferwatch.detectors.filters import LearnIfNormal, WarmUp
from inferwatch.detectors.rare_rate import RareEventRate
from inferwatch.detectors.slo_burn import BurnRate
from inferwatch.detectors.traffic import TrafficRate
from inferwatch.detectors.variant_regression import VariantRegression

#: fewest observations in a bucket for its mean input size to be judged at all
MIN_BUCKET_COUNT = 3
TOP_CONTRIBUTORS = 3
#: floor of the std of a window mean of scores in [0, 1] (evaluations, feedback)
OUTCOME_MIN_STD = 0.02
#: fewest scores in the window for their mean to be judged (a handful of scores is mostly noise)
OUTCOME_MIN_COUNT = 10
#: fewest embeddings in the window for their mean to be judged
MIN_EMBEDDINGS = 20


class Signal(Protocol):
    name: str  #: unique per series, the key of the detector and episode state
    kind: str  #: the record's ``kind``
    signal: str  #: the record's ``signal`` (an event field or a derived signal)
    detector: str  #: the record's ``detector`` (a name in ``detectors.registry.DETECTORS``)
    confirm: int  #: anomalous buckets in a row before an episode opens

    def make_detector(self) -> Detector: ...

    def observe(self, ring: list[Bucket]) -> Any | None: ...

    def describe(self, x: Any, detector: Detector, ring: list[Bucket]) -> dict:
        """Record fields: value, expected, exemplars and extras; ``labels`` here are added to the series labels."""


def innermost(detector: Detector) -> Detector:
    """The detector inside its wrappers (``WarmUp``, ``LearnIfNormal`` keep the wrapped one in ``detector``)."""
    while hasattr(detector, "detector"):
        detector = detector.detector
    return detector


def guarded(detector: Detector, settings: DetectorSettings, rebase_log: bool = False) -> Detector:
    """The usual wrapping of a baseline: silent during warm-up, and it does not learn what it flags; ``rebase_log``
    (a baseline of log values) accepts a lasting moderate shift as a new normal (``BaselineSettings``)."""
    base = settings.baseline
    return LearnIfNormal(WarmUp(detector, base.warmup_buckets), threshold=base.learn_below_score,
                         patience=base.max_refused_buckets,
                         rebase_after=base.rebase_after_buckets if rebase_log else None,
                         max_shift=math.log(base.max_rebase_ratio))


def _window(ring: list[Bucket], settings: DetectorSettings) -> list[Bucket]:
    return ring[-settings.window_buckets:]


def _reference(ring: list[Bucket], settings: DetectorSettings) -> list[Bucket]:
    return ring[:-settings.window_buckets]


def _exemplars(buckets: list[Bucket], settings: DetectorSettings,
               ids: Callable[[Bucket], list] = attrgetter("ids")) -> list:
    """The first ``settings.exemplars`` trace ids (else event ids) of ``buckets``, oldest bucket first."""
    return [i for b in buckets for i in ids(b)][: settings.exemplars]


def _contributors(window: list[CallBucket], reference: list[CallBucket], column: int) -> dict:
    """Per contributor field, the label values whose share of the window grew most against the reference (column
    0 = calls, 1 = errors): who is behind a surge or a burst."""
    out = {}
    scale = len(window) / len(reference) if reference else 0.0
    for i, field in enumerate(window[-1].contributor_fields):
        now: dict = {}
        before: dict = {}
        for bucket in window:
            for value, tally in bucket.contributors[i].items():
                now[value] = now.get(value, 0) + tally[column]
        for bucket in reference:
            for value, tally in bucket.contributors[i].items():
                before[value] = before.get(value, 0) + tally[column]
        growth = sorted(((now.get(v, 0) - before.get(v, 0) * scale, v) for v in set(now) | set(before)), reverse=True)
        top = [{"value": v, "window": now.get(v, 0), "expected": round(before.get(v, 0) * scale, 2)}
               for delta, v in growth[:TOP_CONTRIBUTORS] if delta > 0]
        if top:
            out[field] = top
    return out


class MeanThreshold:
    """Window mean of a per-event quantity (log latency, log tokens, an evaluation score) against an adaptive
    baseline; ``inverse`` maps the detector's units back to the event's for the record."""

    detector = "adaptive_threshold"

    def __init__(self, name: str, signal: str, kind: str, side: str, count: Callable[[Bucket], float],
                 total: Callable[[Bucket], float], inverse: Callable[[float], float], min_std: float,
                 exemplars: Callable[[Bucket], list], settings: DetectorSettings,
                 min_count: int) -> None:
        self.name, self.signal, self.kind, self.side, self.settings = name, signal, kind, side, settings
        self.count, self.total, self.inverse, self.min_std, self.exemplars = count, total, inverse, min_std, exemplars
        self.min_count = min_count
        self.confirm = settings.episode.confirm_buckets
        #: the z-score at which a window fires (``normal_score(z) == fire_score``): the band's half-width in stds
        self._z = math.sqrt(2.0) * float(erfinv(settings.episode.fire_score))

    def make_detector(self) -> Detector:
        base = self.settings.baseline
        log_scale = self.kind == "threshold"  # window means of logs: a shift is a ratio
        return guarded(AdaptiveThreshold(self.side, base.half_life_buckets, self.min_std,
                                         math.log(base.min_mean_ratio) if log_scale else 0.0),
                       self.settings, rebase_log=log_scale)

    def observe(self, ring: list[Bucket]) -> float | None:
        """The mean over the short window, reaching further back through the ring (up to ``long_window_buckets``)
        only while it holds fewer than ``min_count`` values: a thin series (a small tenant) is judged on a longer
        window, later, instead of never; a busy one exactly as before."""
        count, need, window = self.count, self.min_count, self.settings.window_buckets
        used = ring[-window:]
        n = sum(map(count, used))  # counts are ints: exact in any order
        if n < need:
            # n after each older bucket, newest first (never falling: counts are not negative)
            reach = list(accumulate(map(count, ring[-window - 1::-1]), initial=n))
            if reach[-1] < need:  # too few in the whole ring
                return None
            older = bisect_left(reach, need)
            n, used = reach[older], ring[-window - older:]
        # the float sums added newest first, from 0, one after the other: the order is part of the result
        return reduce(add, map(self.total, reversed(used)), 0) / n

    def baseline(self, detector: Detector) -> tuple[float, float, float] | None:
        """``(expected, band_lower, band_upper)`` in the event's units: a window mean outside the band scores at
        least ``episode.fire_score`` (on the problem side). None before the baseline has learned anything."""
        inner = innermost(detector)
        if not inner.stats.n:
            return None
        mean, spread = inner.stats.mean, self._z * inner.std()
        return self.inverse(mean), self.inverse(mean - spread), self.inverse(mean + spread)

    def describe(self, x: float, detector: Detector, ring: list[Bucket]) -> dict:
        value, expected = detector.explain_one(x)
        window = _window(ring, self.settings)
        out = {"value": round(self.inverse(value), 6), "expected": round(self.inverse(expected), 6),
               "exemplars": _exemplars(window, self.settings, self.exemplars)}
        baseline = self.baseline(detector)
        if baseline is not None:
            out["band"] = [round(baseline[1], 6), round(baseline[2], 6)]
        if self.name == "latency" and isinstance(window[-1], Bucket):  # extra series sum no stages (CallBucket)
            stages = self._stage_shift(window, _reference(ring, self.settings))
            if stages:
                out["stages"] = stages
        return out

    def _stage_shift(self, window: list[Bucket], reference: list[Bucket]) -> list[dict]:
        """Where the extra latency sits: per stage, mean seconds in the window against the reference, biggest first."""
        def mean(buckets: list[Bucket], i: int) -> float | None:
            n = sum(b.stage_n[i] for b in buckets)
            return sum(b.stage_sums[i] for b in buckets) / n if n else None
        shifts = []
        for i, stage in enumerate(self.settings.stages):
            now, before = mean(window, i), mean(reference, i)
            if now is not None and before is not None:
                shifts.append({"stage": stage, "value": round(now, 4), "expected": round(before, 4),
                               "delta": round(now - before, 4)})
        return sorted(shifts, key=lambda s: -abs(s["delta"]))


def _slowest(bucket: Bucket) -> list:
    return [i for _, i in bucket.slow]


def per_call(name: str, field: str, offset: float, side: str, settings: DetectorSettings) -> MeanThreshold:
    """Adaptive threshold on the window's geometric mean of a positive per-call field (``bucket.SIZES``, latency)."""
    count, total = attrgetter(f"{name}_n"), attrgetter(f"{name}_log")
    ids = _slowest if name == "latency" else attrgetter("ids")
    return MeanThreshold(name, field, "threshold", side, count, total, lambda v: math.exp(v) - offset,
                         settings.baseline.min_log_std, ids, settings, settings.min_window_calls)


def stage_signals(settings: DetectorSettings) -> list[MeanThreshold]:
    """One adaptive threshold per configured stage, on the window's geometric mean of its duration: a slow stage
    (retrieval, a guardrail) is seen even when it is a small part of the whole call's latency."""
    return [MeanThreshold(f"stage:{stage}", f"app.stage.{stage}.duration", "threshold", "upper",
                          lambda b, i=i: b.stage_n[i], lambda b, i=i: b.stage_logs[i],
                          lambda v: math.exp(v) - STAGE_OFFSET, settings.baseline.min_log_std, _slowest, settings,
                          settings.min_window_calls)
            for i, stage in enumerate(settings.stages)]


def outcome_signals(settings: DetectorSettings) -> list[Signal]:
    """Drift of the outcome distributions themselves: evaluation scores falling, negative feedback rising."""
    return [
        MeanThreshold("evaluation_score", "evaluation.score", "concept_drift", "lower",
                      lambda b: sum(t[0] for t in b.evals.values()), lambda b: sum(t[1] for t in b.evals.values()),
                      float, OUTCOME_MIN_STD, attrgetter("ids"), settings, min_count=OUTCOME_MIN_COUNT),
        RareRate("feedback", "feedback.negative.rate", attrgetter("feedback_negative"), attrgetter("ids"), settings,
                 trials=attrgetter("feedback_n"), kind="concept_drift"),
    ]


class RareRate:
    """Count of a rare 0/1 outcome (errors, one safety flag) over calls in the window, against the learned rate."""

    detector = "rare_rate"

    def __init__(self, name: str, signal: str, count: Callable[[Bucket], int], ids: Callable[[Bucket], list],
                 settings: DetectorSettings, trials: Callable[[Bucket], int] = attrgetter("calls"),
                 kind: str = "rate") -> None:
        self.name, self.signal, self.count, self.ids, self.settings = name, signal, count, ids, settings
        self.trials, self.kind = trials, kind
        self.confirm = settings.episode.confirm_buckets

    def make_detector(self) -> Detector:
        rate = self.settings.rate
        return guarded(RareEventRate(self.settings.baseline.half_life_buckets * 2, rate.prior_rate, rate.prior_calls,
                                     rate.min_events), self.settings)

    def observe(self, ring: list[Bucket]) -> tuple[int, int] | None:
        window = _window(ring, self.settings)
        trials = sum(map(self.trials, window))
        return (sum(map(self.count, window)), trials) if trials else None

    def describe(self, x: tuple[int, int], detector: Detector, ring: list[Bucket]) -> dict:
        value, expected = detector.explain_one(x)
        window = _window(ring, self.settings)
        out = {"value": round(value, 6), "expected": round(expected, 6), "events": x[0], "trials": x[1],
               "exemplars": _exemplars(window, self.settings, self.ids)}
        if self.name == "errors":
            mix: dict = {}
            for b in window:
                for error_type, count in b.error_types.items():
                    mix[error_type] = mix.get(error_type, 0) + count
            out["error_types"] = dict(sorted(mix.items(), key=lambda kv: -kv[1]))
            out["contributors"] = _contributors(window, _reference(ring, self.settings), column=1)
        return out


_calls = attrgetter("calls")


class Throughput:
    """Calls per second of the series over the window, silent buckets included: surge, drop, silence."""

    kind = "throughput"
    signal = "request.rate"
    detector = "traffic_rate"
    name = "traffic"

    def __init__(self, settings: DetectorSettings) -> None:
        self.settings = settings
        self.confirm = settings.episode.confirm_buckets
        self._seconds = settings.window_buckets * settings.bucket_s

    def make_detector(self) -> Detector:
        base = self.settings.baseline
        return WarmUp(TrafficRate("both", base.traffic_half_life_buckets, base.traffic_trend_half_life_buckets,
                                  base.traffic_min_change_calls, base.traffic_min_ratio,
                                  patience=base.max_refused_buckets), base.warmup_buckets)

    def observe(self, ring: list[Bucket]) -> float:
        return float(sum(map(_calls, _window(ring, self.settings))))

    def describe(self, x: float, detector: Detector, ring: list[Bucket]) -> dict:
        value, expected = detector.explain_one(x)
        window = _window(ring, self.settings)
        return {"value": round(value / self._seconds, 4), "expected": round(expected / self._seconds, 4),
                "unit": "calls/s",
                "exemplars": _exemplars(window, self.settings),
                "contributors": _contributors(window, _reference(ring, self.settings), column=0)}


def safety_signals(settings: DetectorSettings) -> list[RareRate]:
    return [RareRate(field.rsplit(".", 1)[1], f"{field}.rate", lambda b, i=i: b.flags[i], lambda b: b.flag_ids,
                     settings) for i, field in enumerate(SAFETY_FLAGS)]


class InputDrift:
    """Slow or sudden change of a numeric input's distribution: ADWIN on the per-bucket mean of its log."""

    kind = "data_drift"
    detector = "adwin_drift"
    confirm = 1

    def __init__(self, name: str, field: str, settings: DetectorSettings) -> None:
        self.name, self.signal, self.settings = f"{name}_drift", field, settings
        self._n, self._log = attrgetter(f"{name}_n"), attrgetter(f"{name}_log")

    def make_detector(self) -> Detector:
        return WarmUp(AdwinDrift(self.settings.drift_delta), self.settings.baseline.warmup_buckets)

    def observe(self, ring: list[Bucket]) -> float | None:
        last = ring[-1]
        n = self._n(last)
        return self._log(last) / n if n >= MIN_BUCKET_COUNT else None

    def describe(self, x: float, detector: Detector, ring: list[Bucket]) -> dict:
        value, expected = detector.explain_one(x)
        return {"value": round(math.exp(value) - 1.0, 3), "expected": round(math.exp(expected) - 1.0, 3),
                "exemplars": _exemplars(ring[-1:], self.settings)}


class CategoryMix:
    """Mix of a categorical input (language, topic) in the window against the learned mix."""

    kind = "data_drift"
    detector = "category_mix"

    def __init__(self, index: int, field: str, settings: DetectorSettings) -> None:
        self.index, self.signal, self.settings = index, field, settings
        self.name = f"mix:{field}"
        self.confirm = settings.episode.confirm_buckets

    def make_detector(self) -> Detector:
        return guarded(CategoryMixDrift(self.settings.baseline.half_life_buckets * 2, self.settings.mix_min_effect),
                       self.settings)

    def observe(self, ring: list[Bucket]) -> dict | None:
        counts: dict = {}
        for b in _window(ring, self.settings):
            for value, count in b.categories[self.index].items():
                counts[value] = counts.get(value, 0) + count
        return counts or None

    def describe(self, x: dict, detector: Detector, ring: list[Bucket]) -> dict:
        value, expected = detector.explain_one(x)
        return {"value": value, "expected": expected,
                "exemplars": _exemplars(_window(ring, self.settings), self.settings)}


class EmbeddingMean:
    """Drift of the input embeddings: the window's mean embedding against the learned baseline."""

    kind = "data_drift"
    signal = "app.input.embedding"
    detector = "embedding_drift"
    name = "embedding"

    def __init__(self, settings: DetectorSettings) -> None:
        self.settings = settings
        self.confirm = settings.episode.confirm_buckets

    def make_detector(self) -> Detector:
        s = self.settings
        return guarded(EmbeddingDrift(s.embedding_dims, s.baseline.half_life_buckets * 2, s.embedding_min_effect), s)

    def observe(self, ring: list[Bucket]) -> EmbeddingWindow | None:
        """Count and mean of the window's embeddings (of the newest length seen), and of the newest bucket's."""
        window = _window(ring, self.settings)
        latest = next((b.embedding_sum for b in reversed(window) if b.embedding_sum is not None), None)
        if latest is None:
            return None
        used = [b for b in window if b.embedding_sum is not None and len(b.embedding_sum) == len(latest)]
        n = sum(b.embedding_n for b in used)
        if n < MIN_EMBEDDINGS:
            return None
        mean = [sum(column) / n for column in zip(*(b.embedding_sum for b in used))]
        newest = ring[-1]
        if newest.embedding_sum is latest:
            return EmbeddingWindow(n, mean, newest.embedding_n, [v / newest.embedding_n for v in latest])
        return EmbeddingWindow(n, mean, 0, None)

    def describe(self, x: EmbeddingWindow, detector: Detector, ring: list[Bucket]) -> dict:
        value, expected = detector.explain_one(x)
        return {"value": round(value, 4), "expected": round(expected, 4), "calls": x.calls,
                "unit": "distance of the mean embedding from its baseline (per-call standard deviations)",
                "exemplars": _exemplars(_window(ring, self.settings), self.settings)}


class OutcomeModel:
    """Concept drift: the model of outcome given inputs starts to err (``detectors.concept_drift``)."""

    kind = "concept_drift"
    signal = "evaluation.error"
    detector = "concept_drift"
    name = "concept"
    confirm = 1

    def __init__(self, settings: DetectorSettings) -> None:
        self.settings = settings

    def make_detector(self) -> Detector:
        return WarmUp(ConceptDrift(), self.settings.baseline.warmup_buckets)

    def observe(self, ring: list[Bucket]) -> list | None:
        return ring[-1].outcomes or None

    def describe(self, x: list, detector: Detector, ring: list[Bucket]) -> dict:
        value, expected = detector.explain_one(x)
        by_input: dict = {}
        for name, inputs, score in x:
            for field, v in inputs.items():
                if field != "input_tokens" and v is not None:
                    tally = by_input.setdefault(f"{field}={v}", [0, 0.0])
                    tally[0] += 1
                    tally[1] += score
        lowest = sorted((t[1] / t[0], k) for k, t in by_input.items())[:TOP_CONTRIBUTORS]
        return {"value": round(value, 4), "expected": round(expected, 4), "unit": "mean absolute error",
                "lowest_scoring_inputs": [{"input": k, "mean_score": round(m, 4)} for m, k in lowest],
                "exemplars": _exemplars(ring[-1:], self.settings)}


class Variant:
    """A variant (canary) against the baseline variant in the long window, on latency or on error rate."""

    kind = "variant_regression"
    detector = "variant_regression"

    def __init__(self, metric: str, settings: DetectorSettings) -> None:
        self.metric, self.settings = metric, settings
        self.name = f"variant_{metric}"
        self.signal = "variant.latency" if metric == "latency" else "variant.error.rate"
        self.confirm = settings.episode.confirm_buckets

    def make_detector(self) -> Detector:
        return VariantRegression(self.metric, self.settings.baseline_variant)

    def observe(self, ring: list[Bucket]) -> dict | None:
        """Each variant's tallies summed over the ring (variants in order of first appearance), column by column,
        oldest bucket first, from 0 (the same additions in the same order as one running total per column)."""
        tallies: dict = {}
        for b in ring:
            for variant, tally in b.variants.items():
                tallies.setdefault(variant, []).append(tally)
        if len(tallies) < 2:
            return None
        return {variant: [reduce(add, column, 0) for column in zip(*rows)] for variant, rows in tallies.items()}

    def describe(self, x: dict, detector: Detector, ring: list[Bucket]) -> dict:
        value, expected = detector.explain_one(x)
        variant = detector.worst_variant(x)
        return {"value": value, "expected": expected, "labels": {"app.variant": variant}, "baseline_variant":
                self.settings.baseline_variant, "unit": "seconds (geometric mean)" if self.metric == "latency" else
                "error rate", "exemplars": _exemplars(_window(ring, self.settings), self.settings)}


class SloBurn:
    """Multi-window burn rate of one declared SLO (``detectors.slo_burn``) on its own series
    (``detectors.slo_series``)."""

    kind = "slo_burn"
    detector = "slo_burn"
    confirm = 1

    def __init__(self, slo: SloSettings, settings: DetectorSettings) -> None:
        self.slo, self.settings = slo, settings
        self.name = self.signal = f"slo.{slo.name}"

    def make_detector(self) -> Detector:
        slo, episode = self.slo, self.settings.episode
        return BurnRate(slo.objective, self.settings.bucket_s, (slo.fast_long_s, slo.fast_short_s, slo.fast_burn),
                        (slo.slow_long_s, slo.slow_short_s, slo.slow_burn), episode.fire_score, episode.critical_score,
                        slo.window_s)

    def observe(self, ring: list) -> tuple[int, int]:
        return ring[-1].bad, ring[-1].calls

    def describe(self, x: tuple[int, int], detector: Detector, ring: list) -> dict:
        burn, threshold = detector.explain_one(x)
        left = detector.budget_left()
        return {"value": round(burn, 3), "expected": threshold, "unit": "burn rate (short fast window)",
                "objective": self.slo.objective, "indicator": self.slo.indicator,
                "error_budget_left": None if left is None else round(left, 4),
                "exemplars": _exemplars(ring[-1:], self.settings)}
