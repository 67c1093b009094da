"""Data drift of a numeric input (input tokens, input characters): River's ADWIN on per-bucket means.

ADWIN keeps an adaptive window and reports a change when two sub-windows' means differ more than chance allows
(``delta``), which catches slow drifts a band around a moving baseline follows along with. The score is 1 on the
bucket where ADWIN reports a change, else 0 (a change point, not a degree); the record says the mean before and now.
ADWIN's bound has a term in the data's absolute range, so it is a slow detector by design here (a large jump takes
a few minutes of buckets); sudden size changes are the adaptive threshold's job.

River does the statistics; a checkpoint holds only ADWIN's own window (its compressed state bytes and whether it
just saw a change), not the Python object around it: ``adwin_state`` and ``restore_adwin``.

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

import zlib

from river import drift

from inferwatch.detectors.pickling import Slotted


def adwin_state(adwin: drift.ADWIN) -> tuple[bool, bytes]:
    """What ADWIN learned: its window (River's own state bytes, mostly zeros in unused rows: compressed) and whether
    its last update reported a change (the next update then starts a new window)."""
    return adwin.drift_detected, zlib.compress(adwin._helper.__getstate__())


def _adwin(delta: float, clock: int, detected: bool, window: bytes) -> drift.ADWIN:
    """An ``ADWIN(delta, clock)`` holding ``window`` (River's state bytes) and the ``detected`` flag."""
    adwin = drift.ADWIN(delta=delta, clock=clock)
    adwin._drift_detected = detected
    adwin._helper.__setstate__(window)
    return adwin


def restore_adwin(delta: float, clock: int, state: tuple[bool, bytes]) -> drift.ADWIN:
    """An ``ADWIN(delta, clock)`` in the state ``adwin_state`` returned."""
    return _adwin(delta, clock, state[0], zlib.decompress(state[1]))


def copy_adwin(adwin: drift.ADWIN) -> drift.ADWIN:
    """A copy of ``adwin`` to update as a probe, the original unchanged: the state bytes a pickle round trip
    copies too (so the copy is exact), without pickling the Python objects around them (a few us, not tens)."""
    return _adwin(adwin.delta, adwin.clock, adwin.drift_detected, adwin._helper.__getstate__())


class AdwinDrift(Slotted):
    """ADWIN on a stream of numbers; score 1 where it reports a change.

    The engine scores a point, then learns it: ``score_one`` keeps its probe (the ADWIN it updated with the point,
    not pickled) and ``learn_one`` of the very same point takes it instead of updating again."""

    __slots__ = ("delta", "clock", "adwin", "_probe")
    _derived = ("_probe",)

    def __init__(self, delta: float = 0.0002, clock: int = 1) -> None:
        self.delta = delta
        self.clock = clock
        self.adwin = drift.ADWIN(delta=delta, clock=clock)
        self._derive()

    def _derive(self) -> None:
        self._probe: tuple[float, drift.ADWIN] | None = None

    def __getstate__(self) -> tuple:
        return self.delta, self.clock, adwin_state(self.adwin)

    def __setstate__(self, state: tuple) -> None:
        self.delta, self.clock, adwin = state
        self.adwin = restore_adwin(self.delta, self.clock, adwin)
        self._derive()

    def learn_one(self, x: float) -> None:
        probed, self._probe = self._probe, None
        if probed is not None and probed[0] is x:
            self.adwin = probed[1]
        else:
            self.adwin.update(x)

    def score_one(self, x: float) -> float:
        probe = copy_adwin(self.adwin)
        probe.update(x)
        self._probe = (x, probe)
        return 1.0 if probe.drift_detected else 0.0

    def explain_one(self, x: float) -> tuple[float, float]:
        return x, self.adwin.estimation
