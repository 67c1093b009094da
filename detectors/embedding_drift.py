"""Data drift of input embeddings: the recent window's mean embedding against a long exponentially weighted baseline.

Embeddings longer than ``dims`` are first projected on ``dims`` fixed random directions (Johnson-Lindenstrauss:
distances are roughly kept, and neither state nor cost grows with the embedding model's size). The baseline is an EW
mean and an EW covariance of the *per-call* spread, learned from each bucket once (n times the spread of bucket
means, so buckets of any size count alike and successive samples do not overlap). A window of n calls is then tested
with Hotelling's T-squared, ``n (m - mu)' S^-1 (m - mu)``, against the F distribution for a covariance estimated
from that many effective samples: right while the baseline is young, and it accounts for correlated dimensions. The
covariance gets a small ridge, so a direction the inputs hardly vary in (unit-length embeddings have one) does not
make noise look like drift. The score is the test's score, scaled down while the distance of the means is under
``min_effect`` per-call standard deviations, so a busy series does not alarm on a real but harmless wobble.

The observation is an ``EmbeddingWindow``: the window's call count and mean embedding, and the same for its newest
bucket (the one to learn). State: two small arrays, whatever the traffic, pickled as raw float64 bytes (the
covariance is symmetric: its upper triangle only).

>>> import random
>>> rng = random.Random(1)
>>> def window(shift, n=50):  # 4 buckets of n calls whose embeddings are N(0, I) in 8 dimensions, then shifted
...     buckets = [[rng.gauss(shift if j == 0 else 0.0, n ** -0.5) for j in range(8)] for _ in range(4)]
...     return EmbeddingWindow(4 * n, [sum(b[j] for b in buckets) / 4 for j in range(8)], n, buckets[-1])
>>> d = EmbeddingDrift()
>>> for _ in range(300):
...     d.learn_one(window(0.0))
>>> d.score_one(window(0.0)) < 0.99, round(d.score_one(window(0.5)), 6), d.score_one(window(0.1)) < 0.9999
(True, 1.0, True)
>>> value, expected = d.explain_one(window(0.5))  # chance alone moves the mean of 200 calls ~0.2 SD
>>> value > 2 * expected, round(expected, 2)
(True, 0.2)
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from scipy.special import fdtrc

from inferwatch.detectors.pickling import Slotted

#: the ridge added to the covariance, as a share of its mean variance
RIDGE = 0.05


class EmbeddingWindow(NamedTuple):
    calls: int
    mean: list[float]
    #: the newest bucket alone (0 and None when it had no embedding of the window's length)
    new_calls: int
    new_mean: list[float] | None


@functools.lru_cache(maxsize=8)
def projection(size: int, dims: int, seed: int) -> np.ndarray:
    """A fixed ``size x dims`` Gaussian projection: the same on every worker and after every restart (not state)."""
    return np.random.default_rng(seed).standard_normal((size, dims)) / math.sqrt(dims)


class EmbeddingDrift(Slotted):
    """EW mean and per-call covariance of bucket-mean embeddings; score = Hotelling T-squared tail x effect size."""

    __slots__ = ("dims", "half_life", "min_effect", "seed", "size", "n", "mean", "cov", "_alpha")
    _derived = ("_alpha",)

    def __init__(self, dims: int = 16, half_life: float = 240.0, min_effect: float = 0.25, seed: int = 0) -> None:
        self.dims = dims
        self.half_life = half_life
        self.min_effect = min_effect
        self.seed = seed
        self.size = 0  # length of the embeddings learned (a new embedding model starts the baseline afresh)
        self.n = 0
        self.mean = np.zeros(0)
        self.cov = np.zeros((0, 0))
        self._derive()

    def _derive(self) -> None:
        self._alpha = 1.0 - 0.5 ** (1.0 / self.half_life)

    def __getstate__(self) -> tuple:
        upper = np.triu_indices(len(self.mean))
        return (self.dims, self.half_life, self.min_effect, self.seed, self.size, self.n, self.mean.tobytes(),
                self.cov[upper].tobytes())

    def __setstate__(self, state: tuple) -> None:
        *params, mean, cov = state
        super().__setstate__((*params, np.frombuffer(mean).copy(), None))
        k = len(self.mean)
        upper = np.triu_indices(k)
        self.cov = np.zeros((k, k))
        self.cov[upper] = np.frombuffer(cov)
        self.cov.T[upper] = self.cov[upper]

    def _project(self, v) -> np.ndarray:
        y = np.asarray(v, dtype=float)
        return y @ projection(len(y), self.dims, self.seed) if len(y) > self.dims else y

    def learn_one(self, x: EmbeddingWindow) -> None:
        if not x.new_calls:
            return
        y = self._project(x.new_mean)
        if len(x.new_mean) != self.size:
            self.size, self.n = len(x.new_mean), 0
            self.mean, self.cov = np.zeros(len(y)), np.zeros((len(y), len(y)))
        self.n += 1
        alpha = max(self._alpha, 1.0 / self.n)
        delta = y - self.mean
        self.mean = self.mean + alpha * delta
        spread = np.outer(delta, delta)  # updated in place: the same operations, fewer arrays
        spread *= alpha * x.new_calls
        spread += self.cov
        spread *= 1.0 - alpha
        self.cov = spread

    def effective_samples(self) -> float:
        """How many independent buckets the EW estimates are worth (all of them until the weights start to decay)."""
        return min(float(self.n), (2.0 - self._alpha) / self._alpha)

    def _distance(self, x: EmbeddingWindow) -> float | None:
        """Squared Mahalanobis distance of the window mean from the baseline, per call (None: no baseline yet)."""
        k = len(self.mean)
        if len(x.mean) != self.size or self.effective_samples() <= k + 1:
            return None
        delta = self._project(x.mean) - self.mean
        cov = self.cov.copy()
        cov.flat[::k + 1] += RIDGE * self.cov.trace() / k + 1e-12  # the diagonal
        return max(float(delta @ np.linalg.solve(cov, delta)), 0.0)

    def score_one(self, x: EmbeddingWindow) -> float:
        d2 = self._distance(x)
        if d2 is None:
            return 0.0
        k, n = len(self.mean), self.effective_samples()
        f = x.calls * d2 * n / (n + 1.0) * (n - k) / (k * (n - 1.0))
        return (1.0 - float(fdtrc(k, n - k, f))) * min(1.0, math.sqrt(d2) / self.min_effect)

    def explain_one(self, x: EmbeddingWindow) -> tuple[float, float]:
        """``(distance, expected)``: how far the window mean sits from the baseline, in per-call standard deviations,
        and how far chance alone moves the mean of that many calls (``sqrt(dims / calls)``)."""
        d2 = self._distance(x)
        return (math.sqrt(d2) if d2 is not None else 0.0), math.sqrt(max(len(self.mean), 1) / max(x.calls, 1))
