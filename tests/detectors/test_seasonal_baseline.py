"""SeasonalBaseline on the quirks of real operational series: known answers for shifts, rhythm, flat, heavy tails, gaps."""
from __future__ import annotations

import math
import random

from inferwatch.detectors.seasonal_baseline import SeasonalBaseline

HOUR = 3600.0


def feed(detector: SeasonalBaseline, observations) -> list[float]:
    """Surprise of each observation before it is learned, as ``inferwatch score`` computes it."""
    out = []
    for x in observations:
        out.append(detector.surprise_one(x))
        detector.learn_one(x)
    return out


def test_a_level_shift_scores_high_at_its_start_and_is_accepted_within_a_few_rows():
    rng = random.Random(1)
    values = [100.0 + (10.0 if i >= 300 else 0.0) + rng.gauss(0, 1) for i in range(500)]
    surprise = feed(SeasonalBaseline(), values)
    assert surprise[300] > 3, "a 10-sd shift: a 1-in-1,000 surprise on its own under heavy-ish (t5) tails"
    assert max(surprise[301:305]) > 10, "each further row of the run adds its surprise"
    assert max(surprise[305:]) < 3, "after a short run the new level is normal, not hundreds of rows of alarms"
    assert max(surprise[50:300]) < surprise[300]


def test_the_score_does_not_saturate():
    rng = random.Random(2)
    detector = SeasonalBaseline()
    feed(detector, [rng.gauss(0, 1) for _ in range(300)])
    assert 4 < detector.surprise_one(20.0) < detector.surprise_one(40.0) < detector.surprise_one(400.0)
    assert detector.score_one(10.0) < detector.score_one(20.0) <= 1.0


def daily(days: int, rng: random.Random) -> list[tuple[float, float]]:
    """Hourly values of ~50 with a +30 peak from 12:00 to 14:00 every day."""
    return [(HOUR * i, 50.0 + (30.0 if i % 24 in (12, 13, 14) else 0.0) + rng.gauss(0, 2)) for i in range(24 * days)]


def test_the_daily_peak_is_normal_after_a_few_days_and_a_peak_at_the_wrong_hour_is_not():
    rng = random.Random(3)
    history = daily(20, rng)
    surprise = feed(detector := SeasonalBaseline(), history)
    peaks_from_day_4 = [s for i, s in enumerate(surprise) if i >= 24 * 4 and i % 24 in (12, 13, 14)]
    assert max(surprise[12:15]) > 4, "the very first peak is news"
    assert max(peaks_from_day_4) < 3
    assert detector.surprise_one((HOUR * (24 * 20 + 13), 80.0)) < 2, "peak at 13:00: as every day"
    assert detector.surprise_one((HOUR * (24 * 20 + 3), 80.0)) > 4, "the same value at 03:00 is not"


def test_without_timestamps_there_is_no_rhythm_to_follow():
    rng = random.Random(3)
    surprise = feed(SeasonalBaseline(), [value for _, value in daily(20, rng)])
    assert max(s for i, s in enumerate(surprise) if i >= 24 * 10 and i % 24 == 12) > 3


def test_a_tiny_wiggle_after_a_flat_stretch_is_no_news_and_nothing_is_infinite():
    flat = SeasonalBaseline()
    feed(flat, [50.0] * 200)
    assert flat.surprise_one(50.01) < 1, "the scale floor is relative to the level"
    assert 4 < flat.surprise_one(80.0) < math.inf
    zeros = SeasonalBaseline()
    feed(zeros, [0.0] * 200)
    assert math.isfinite(zeros.surprise_one(1e-6))


def test_a_wiggle_of_the_size_the_series_moves_in_is_no_news():
    counts = SeasonalBaseline()
    feed(counts, [7.0] * 100 + [8.0] + [7.0] * 100)
    assert counts.surprise_one(8.0) < 1, "a gauge that moved by one before may move by one again"


def test_single_heavy_tail_outliers_do_not_keep_the_score_high():
    rng = random.Random(4)
    detector = SeasonalBaseline()
    feed(detector, [100.0 + rng.gauss(0, 1) / math.sqrt(rng.gammavariate(1.25, 0.8)) for _ in range(500)])
    _, expected = detector.explain_one(100.0)
    assert feed(detector, [160.0])[0] > 2
    after = feed(detector, [100.0 + rng.gauss(0, 1) for _ in range(20)])
    assert max(after) < 2, "the outlier did not move the baseline"
    assert abs(detector.explain_one(100.0)[1] - expected) < 1.0


def test_a_gap_counts_as_the_rows_it_skipped():
    """After a long gap the baseline leans further towards the new value than after one regular step."""
    expected = {}
    for gap in (1, 30):
        detector = SeasonalBaseline()
        feed(detector, [(60.0 * i, 10.0 + 0.1 * (i % 2)) for i in range(100)])
        detector.learn_one((60.0 * (99 + gap), 11.0))
        expected[gap] = detector.explain_one(11.0)[1]
    assert expected[30] - 10.05 > 5 * (expected[1] - 10.05) > 0
