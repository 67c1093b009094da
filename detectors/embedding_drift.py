"""Data drift of input embeddings: the recent window's mean embedding against a long exponentially weighted baseline.

The observation is ``(n, mean)``: how many calls the window holds and their mean embedding. Embeddings longer than
``dims`` are first projected on ``dims`` fixed random directions (Johnson-Lindenstrauss: distances are roughly kept,
and neither state nor cost grows with the embedding model's size). The baseline is an EW mean and an EW covariance
of the *per-call* spread (n times the spread of window means), so one baseline serves windows of any size: without
drift, ``n * (m - mu)' S^-1 (m - mu)`` is chi-square with ``dims`` degrees of freedom (Hotelling's test of a mean,
which also accounts for correlated dimensions). The score is that test's score, scaled down while the distance of
the means is under ``min_effect`` per-call standard deviations, so a busy series does not alarm on a real but
harmless wobble. State: two small arrays, whatever the traffic.

>>> import random
>>> rng = random.Random(1)
>>> def window(shift, n=200):  # the mean of n calls whose embeddings are N(0, I) in 8 dimensions
...     return n, [rng.gauss(shift if j == 0 else 0.0, 1.0 / n ** 0.5) for j in range(8)]
>>> d = EmbeddingDrift()
>>> for _ in range(300):
...     d.learn_one(window(0.0))
>>> d.score_one(window(0.0)) < 0.99, round(d.score_one(window(0.5)), 6), d.score_one(window(0.1)) < 0.9999
(True, 1.0, True)
>>> value, expected = d.explain_one(window(0.5))  # the mean moved ~0.5 SD; chance alone moves it ~0.2
>>> 0.35 < value < 0.7, round(expected, 2)
(True, 0.2)
"""
from __future__ import annotations

import functools
import math
import random

import numpy as np

from detectors.scoring import chi2_score

#: windows learned per dimension before the covariance is trusted at all (the estimator's own minimum)
MIN_WINDOWS_PER_DIM = 2


@functools.lru_cache(maxsize=8)
def projection(size: int, dims: int, seed: int) -> np.ndarray:
    """A fixed ``size x dims`` Gaussian projection: the same on every worker and after every restart (not state)."""
    return np.random.default_rng(seed).standard_normal((size, dims)) / math.sqrt(dims)


class EmbeddingDrift:
    """EW mean and per-call covariance of window-mean embeddings; score = Hotelling chi-square tail x effect size."""

    def __init__(self, dims: int = 16, half_life: float = 240.0, min_effect: float = 0.25, ridge: float = 1e-3,
                 seed: int = 0) -> None:
        self.dims = dims
        self.half_life = half_life
        self.min_effect = min_effect
        self.ridge = ridge
        self.seed = seed
        self._alpha = 1.0 - 0.5 ** (1.0 / half_life)
        self.size = 0  # length of the embeddings learned (a new embedding model starts the baseline afresh)
        self.n = 0
        self.mean = np.zeros(0)
        self.cov = np.zeros((0, 0))

    def _project(self, v) -> np.ndarray:
        y = np.asarray(v, dtype=float)
        return y @ projection(len(y), self.dims, self.seed) if len(y) > self.dims else y

    def learn_one(self, x: tuple[int, list[float]]) -> None:
        calls, v = x
        y = self._project(v)
        if len(v) != self.size:
            self.size, self.n = len(v), 0
            self.mean, self.cov = np.zeros(len(y)), np.zeros((len(y), len(y)))
        self.n += 1
        alpha = max(self._alpha, 1.0 / self.n)
        delta = y - self.mean
        self.mean = self.mean + alpha * delta
        self.cov = (1.0 - alpha) * (self.cov + alpha * calls * np.outer(delta, delta))

    def _distance(self, x: tuple[int, list[float]]) -> float | None:
        """Squared Mahalanobis distance of the window mean from the baseline, in per-call units (None: no baseline)."""
        v = x[1]
        if len(v) != self.size or self.n < MIN_WINDOWS_PER_DIM * len(self.mean):
            return None
        delta = self._project(v) - self.mean
        k = len(delta)
        cov = self.cov + (self.ridge * np.trace(self.cov) / k + 1e-12) * np.eye(k)
        return max(float(delta @ np.linalg.solve(cov, delta)), 0.0)

    def score_one(self, x: tuple[int, list[float]]) -> float:
        d2 = self._distance(x)
        if d2 is None:
            return 0.0
        return chi2_score(x[0] * d2, len(self.mean)) * min(1.0, math.sqrt(d2) / self.min_effect)

    def explain_one(self, x: tuple[int, list[float]]) -> tuple[float, float]:
        """``(distance, expected)``: how far the window mean sits from the baseline, in per-call standard deviations,
        and how far chance alone moves the mean of that many calls (``sqrt(dims / n)``)."""
        d2 = self._distance(x)
        return (math.sqrt(d2) if d2 is not None else 0.0), math.sqrt(max(len(self.mean), 1) / max(x[0], 1))

    @classmethod
    def labelled_stream(cls, seed: int) -> list[tuple[tuple[int, list[float]], bool]]:
        """Window means of correlated 24-dimensional embeddings (so the projection runs), shifted for a while."""
        rng = random.Random(seed)
        mixing = [[rng.gauss(0.0, 0.5) for _ in range(24)] for _ in range(24)]
        out = []
        for i in range(400):
            shifted = 300 <= i < 330
            n = rng.randint(80, 200)
            z = [rng.gauss(0.8 if shifted and j < 3 else 0.0, 1.0 / math.sqrt(n)) for j in range(24)]
            out.append(((n, [sum(m * zj for m, zj in zip(row, z)) for row in mixing]), shifted))
        return out
