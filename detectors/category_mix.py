"""Data drift of a categorical input (language, topic): the window's mix against an EW reference mix.

A G-test (likelihood-ratio chi-square) says whether the difference is real; the total variation distance says
whether it is material. The score is the test's score scaled down while the shift is smaller than ``min_effect``, so a
large series does not alarm on a statistically real but harmless wobble of a few percent.

>>> d = CategoryMixDrift()
>>> for _ in range(100):
...     d.learn_one({"en": 60, "de": 25, "fr": 15})
>>> round(d.score_one({"en": 58, "de": 27, "fr": 15}), 3), round(d.score_one({"en": 30, "de": 15, "fr": 10, "pt": 45}), 4)
(0.021, 1.0)
>>> d.explain_one({"en": 30, "pt": 70})
({'pt': 0.7, 'en': 0.3}, {'en': 0.6, 'de': 0.25, 'fr': 0.15})
"""
from __future__ import annotations

import math

from inferwatch.detectors.pickling import Slotted
from inferwatch.detectors.scoring import chi2_score

MAX_CATEGORIES = 64
MIN_WINDOW = 20


class CategoryMixDrift(Slotted):
    __slots__ = ("half_life", "min_effect", "smoothing", "reference", "_decay")
    _derived = ("_decay",)

    def __init__(self, half_life: float = 240.0, min_effect: float = 0.1, smoothing: float = 0.5) -> None:
        self.half_life = half_life
        self.min_effect = min_effect
        self.smoothing = smoothing
        self.reference: dict[str, float] = {}
        self._derive()

    def _derive(self) -> None:
        self._decay = 0.5 ** (1.0 / self.half_life)

    def learn_one(self, x: dict) -> None:
        decay = self._decay
        reference = {k: v * decay for k, v in self.reference.items()}
        for k, v in x.items():
            reference[k] = reference.get(k, 0.0) + v
        if len(reference) > MAX_CATEGORIES:
            reference = dict(sorted(reference.items(), key=lambda kv: -kv[1])[:MAX_CATEGORIES])
        self.reference = reference

    def _shares(self, categories) -> dict:
        total = sum(self.reference.values()) + self.smoothing * len(categories)
        return {c: (self.reference.get(c, 0.0) + self.smoothing) / total for c in categories}

    def score_one(self, x: dict) -> float:
        n = sum(x.values())
        if n < MIN_WINDOW or not self.reference:
            return 0.0
        categories = set(self.reference) | set(x)
        expected = self._shares(categories)
        g = 2.0 * sum(o * math.log(o / (n * expected[c])) for c, o in x.items() if o > 0)
        tvd = 0.5 * sum(abs(x.get(c, 0) / n - p) for c, p in expected.items())
        return chi2_score(g, len(categories) - 1) * min(1.0, tvd / self.min_effect)

    def explain_one(self, x: dict) -> tuple[dict, dict]:
        n = sum(x.values()) or 1
        now = {c: round(v / n, 4) for c, v in sorted(x.items(), key=lambda kv: -kv[1])[:5]}
        total = sum(self.reference.values()) or 1.0
        before = {c: round(v / total, 4) for c, v in sorted(self.reference.items(), key=lambda kv: -kv[1])[:5]}
        return now, before
