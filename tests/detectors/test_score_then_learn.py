"""The engine scores a point, then learns it; detectors that carry work from ``score_one`` to ``learn_one`` of the same
point (ADWIN's updated probe, a bucket's feature dicts) must learn exactly what learning alone learns."""
from __future__ import annotations

import pickle
import random

import pytest

from inferwatch.detectors.adwin_drift import AdwinDrift
from inferwatch.detectors.concept_drift import ConceptDrift


def adwin_stream(rng: random.Random) -> list[float]:
    """Calm, then a level shift ADWIN reports (a change point: its next update starts a new window)."""
    return [rng.gauss(6.0, 0.05) for _ in range(150)] + [rng.gauss(6.6, 0.05) for _ in range(60)]


def outcome_stream(rng: random.Random) -> list[list]:
    """Buckets of evaluation outcomes whose relation to the input language changes half way."""
    def bucket(drop: float) -> list:
        return [("rel", {"app.input.language": lang, "input_tokens": 500},
                 rng.gauss(0.9 - (drop if lang == "de" else 0.0), 0.03)) for lang in rng.choices(["en", "de"], k=20)]
    return [bucket(0.0) for _ in range(80)] + [bucket(0.3) for _ in range(40)]


@pytest.mark.parametrize("make, stream", [(AdwinDrift, adwin_stream), (ConceptDrift, outcome_stream)])
def test_scoring_before_learning_changes_nothing_learned(make, stream):
    points = stream(random.Random(7))
    scored, alone = make(), make()
    scores = []
    for x in points:
        scores.append(scored.score_one(x))
        scored.learn_one(x)
        alone.learn_one(x)
    assert max(scores) == 1.0  # the stream does cross a change the shortcut must carry over
    assert pickle.dumps(scored) == pickle.dumps(alone)


@pytest.mark.parametrize("make, stream", [(AdwinDrift, adwin_stream), (ConceptDrift, outcome_stream)])
def test_learning_another_point_than_the_one_scored_learns_that_point(make, stream):
    points = stream(random.Random(8))
    scored, alone = make(), make()
    for x in points[:-2]:
        scored.learn_one(x)
        alone.learn_one(x)
    scored.score_one(points[-2])
    scored.learn_one(points[-1])
    alone.learn_one(points[-1])
    assert pickle.dumps(scored) == pickle.dumps(alone)
