"""Data drift of a numeric input (input tokens, input characters): River's ADWIN on per-bucket means.

ADWIN keeps an adaptive window and reports a change when two sub-windows' means differ more than chance allows
(``delta``), which catches slow drifts a band around a moving baseline follows along with. The score is 1 on the
bucket where ADWIN reports a change, else 0 (a change point, not a degree); the record says the mean before and now.
ADWIN's bound has a term in the data's absolute range, so it is a slow detector by design here (a large jump takes
a few minutes of buckets); sudden size changes are the adaptive threshold's job.

>>> import random
>>> rng = random.Random(3)
>>> d = AdwinDrift()
>>> for _ in range(200):
...     d.learn_one(rng.gauss(6.0, 0.05))
>>> scores = []
>>> for x in [6.01] + [6.6] * 30:
...     scores.append(d.score_one(x)); d.learn_one(x)
>>> scores.index(1.0), sum(scores)
(25, 1.0)
"""
from __future__ import annotations

import pickle
import random

from river import drift


class AdwinDrift:
    def __init__(self, delta: float = 0.0002, clock: int = 1) -> None:
        self.delta = delta
        self.clock = clock
        self.adwin = drift.ADWIN(delta=delta, clock=clock)

    def learn_one(self, x: float) -> None:
        self.adwin.update(x)

    def score_one(self, x: float) -> float:
        probe = pickle.loads(pickle.dumps(self.adwin))
        probe.update(x)
        return 1.0 if probe.drift_detected else 0.0

    def explain_one(self, x: float) -> tuple[float, float]:
        return x, self.adwin.estimation
