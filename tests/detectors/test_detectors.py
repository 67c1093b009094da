"""Known answers per detector, table-driven: what must fire and what must not."""
from __future__ import annotations

import pickle
import random

import pytest

from inferwatch.detectors.adaptive_threshold import AdaptiveThreshold
from inferwatch.detectors.category_mix import CategoryMixDrift
from inferwatch.detectors.embedding_drift import EmbeddingDrift, EmbeddingWindow
from inferwatch.detectors.filters import LearnIfNormal
from inferwatch.detectors.rare_rate import RareEventRate
from inferwatch.detectors.slo_burn import BurnRate
from inferwatch.detectors.traffic import TrafficRate
from inferwatch.detectors.variant_regression import VariantRegression

FIRE = 0.9999


def trained(detector, xs):
    for x in xs:
        detector.learn_one(x)
    return detector


def quiet_errors(rate=0.002, n=120, buckets=400, seed=1):
    rng = random.Random(seed)
    return [(sum(rng.random() < rate for _ in range(n)), n) for _ in range(buckets)]


@pytest.mark.parametrize("x, fires", [
    ((12, 120), True),   # 0.2 % -> 10 %: a burst
    ((1, 120), False),   # one error in a quiet minute
    ((2, 10), False),    # two errors on a handful of calls
    ((0, 120), False),
])
def test_rare_rate(x, fires):
    detector = trained(RareEventRate(), quiet_errors())
    assert (detector.score_one(x) >= FIRE) is fires


@pytest.mark.parametrize("side, x, fires", [
    ("both", 0.0, True),     # output tokens collapsing to zero
    ("upper", 0.0, False),   # a drop is no latency problem
    ("upper", 6.5, True),
    ("both", 5.3, False),
])
def test_adaptive_threshold_sides(side, x, fires):
    rng = random.Random(2)
    detector = trained(AdaptiveThreshold(side=side), [rng.gauss(5.3, 0.08) for _ in range(300)])
    assert (detector.score_one(x) >= FIRE) is fires


def test_learn_if_normal_keeps_the_baseline_through_an_incident_then_accepts_a_lasting_level():
    rng = random.Random(3)
    detector = LearnIfNormal(AdaptiveThreshold(side="upper"), threshold=0.99, patience=50)
    trained(detector, [rng.gauss(1.0, 0.05) for _ in range(300)])
    scores = []
    for _ in range(120):
        scores.append(detector.score_one(2.0))
        detector.learn_one(2.0)
    assert min(scores[:50]) >= FIRE  # the incident is not learned away
    assert scores[-1] < FIRE  # after `patience` refusals the new level is accepted


@pytest.mark.parametrize("x, fires", [
    (0.0, True),      # silence
    (300.0, True),    # surge
    (100.0, False),
    (40.0, True),     # drop
])
def test_traffic(x, fires):
    rng = random.Random(4)
    detector = trained(TrafficRate(), [float(sum(rng.random() < 0.5 for _ in range(200))) for _ in range(300)])
    assert (detector.score_one(x) >= FIRE) is fires


def test_traffic_on_a_low_volume_series_does_not_call_a_quiet_minute_silence():
    rng = random.Random(5)
    detector = trained(TrafficRate(), [float(sum(rng.random() < 0.01 for _ in range(200))) for _ in range(300)])
    assert detector.score_one(0.0) < FIRE


def _window(stable_shift=0.0, canary_shift=0.0, canary_errors=0):
    rng = random.Random(6)
    out = {}
    for name, n, shift, errors in (("stable", 900, stable_shift, 2), ("canary", 90, canary_shift, canary_errors)):
        logs = [rng.gauss(0.3 + shift, 0.3) for _ in range(n)]
        out[name] = [n, errors, n, sum(logs), sum(v * v for v in logs)]
    return out


@pytest.mark.parametrize("metric, window, fires", [
    ("latency", _window(canary_shift=0.7), True),
    ("latency", _window(stable_shift=0.7, canary_shift=0.7), False),  # both slower: not the canary's fault
    ("latency", _window(), False),
    ("errors", _window(canary_errors=9), True),
    ("errors", _window(canary_errors=1), False),
])
def test_variant_regression(metric, window, fires):
    assert (VariantRegression(metric).score_one(window) >= FIRE) is fires


def test_category_mix_fires_on_a_new_language_not_on_a_wobble():
    rng = random.Random(7)

    def counts(weights):
        out: dict = {}
        for c in rng.choices(["en", "de", "fr", "pt"], weights=weights, k=200):
            out[c] = out.get(c, 0) + 1
        return out
    detector = trained(CategoryMixDrift(), [counts([0.6, 0.25, 0.15, 0.0]) for _ in range(200)])
    assert detector.score_one(counts([0.35, 0.15, 0.1, 0.4])) >= FIRE
    assert detector.score_one(counts([0.55, 0.28, 0.17, 0.0])) < FIRE


@pytest.mark.parametrize("bad, minutes, expected", [
    (0.5, 30, "critical"),   # fast burn: both 1 h and 5 min windows over 14.4x
    (0.1, 360, "warning"),   # slow burn: 6 h and 30 min over 6x, fast pair not
    (0.004, 600, None),      # inside the budget
])
def test_slo_burn_levels(bad, minutes, expected):
    detector = BurnRate(objective=0.99, bucket_s=15.0)
    trained(detector, [(0, 100)] * 2000)
    trained(detector, [(round(100 * bad), 100)] * (minutes * 4))
    score = detector.score_one((round(100 * bad), 100))
    level = "critical" if score >= 0.9999999 else "warning" if score >= FIRE else None
    assert level == expected


def traffic_on(counts):
    return trained(TrafficRate(), [float(c) for c in counts])


@pytest.mark.parametrize("mean, x, fires", [
    (6.0, 19.0, False),    # a small tenant's busy minute: 3x a handful of calls is no one-in-a-million event
    (6.0, 45.0, True),     # 7x: a surge, even on a small series
    (100.0, 160.0, True),  # a large series: normal-like tails
    (100.0, 115.0, False),
    (100.0, 0.0, True),    # silence
    (2.0, 0.0, False),     # a quiet minute of a series that sends two calls a minute
])
def test_traffic_counts_are_judged_on_their_own_tails(mean, x, fires):
    rng = random.Random(8)
    lam = mean / 200
    detector = traffic_on([sum(rng.random() < lam for _ in range(200)) for _ in range(300)])
    assert (detector.score_one(x) >= FIRE) is fires


def _embedding_windows(shift=0.0, size=12, n=60, count=300, seed=9):
    """Windows of 4 buckets of ``n`` calls whose embeddings are N(0, I), moved by ``shift`` along a few dimensions."""
    rng = random.Random(seed)
    buckets: list = []
    out = []
    for _ in range(count):
        buckets = [*buckets[-3:], [rng.gauss(shift if j % 3 == 0 else 0.0, n ** -0.5) for j in range(size)]]
        mean = [sum(b[j] for b in buckets) / len(buckets) for j in range(size)]
        out.append(EmbeddingWindow(len(buckets) * n, mean, n, buckets[-1]))
    return out


@pytest.mark.parametrize("shift, size, fires", [
    (0.0, 12, False),
    (0.05, 12, False),   # real but far under min_effect (0.25 per-call standard deviations)
    (0.6, 12, True),
    (0.6, 384, True),    # a real embedding model's size: projected on 16 random directions
])
def test_embedding_drift_fires_on_a_material_shift_of_the_mean(shift, size, fires):
    detector = trained(EmbeddingDrift(), _embedding_windows(size=size))
    moved = _embedding_windows(shift=shift, size=size, count=4, seed=10)[-1]
    assert (detector.score_one(moved) >= FIRE) is fires


def test_embedding_drift_state_does_not_grow_with_the_embedding_size():
    small = trained(EmbeddingDrift(), _embedding_windows(size=16, count=50))
    large = trained(EmbeddingDrift(), _embedding_windows(size=1536, count=50))
    assert abs(len(pickle.dumps(large)) - len(pickle.dumps(small))) < 8


def test_embedding_drift_starts_afresh_for_a_new_embedding_model():
    detector = trained(EmbeddingDrift(), _embedding_windows(size=12))
    other = _embedding_windows(size=24, count=1)[0]
    assert detector.score_one(other) == 0.0, "another model's embeddings do not compare with the baseline"
    detector.learn_one(other)
    assert (detector.size, detector.n) == (24, 1)


def test_learn_if_normal_scores_once_and_learns_exactly_as_without_the_shortcut():
    rng = random.Random(11)
    points = [rng.gauss(1.0, 0.05) for _ in range(200)] + [2.0, 2.0, 1.0]
    with_score, without = LearnIfNormal(AdaptiveThreshold(), 0.99), LearnIfNormal(AdaptiveThreshold(), 0.99)
    for x in points:
        with_score.score_one(x)
        with_score.learn_one(x)
        without.learn_one(x)
    assert pickle.dumps(with_score) == pickle.dumps(without)
    stale = LearnIfNormal(AdaptiveThreshold(), 0.99)
    trained(stale, points[:200])
    stale.score_one(1.0)
    stale.learn_one(5.0)  # not the point just scored: scored afresh, and refused
    assert stale.refused == 1
