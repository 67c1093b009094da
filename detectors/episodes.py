"""One ongoing problem = one episode: when a run of bucket scores opens, updates and resolves it.

Written once for every signal: an episode opens after ``confirm`` anomalous buckets in a row, is re-announced only
when its severity rises or every ``renotify_s`` of event time, and resolves after ``resolve_buckets`` calm buckets.

>>> from inferwatch.detectors.config import EpisodeSettings
>>> e = Episode()
>>> s = EpisodeSettings(confirm_buckets=2, resolve_buckets=2)
>>> [e.step(score, t * 15 * 10**9, s, confirm=2) for t, score in enumerate([0.1, 0.99999, 0.99999, 0.99999, 0.5, 0.2])]
[None, None, 'firing', None, None, 'resolved']
"""
from __future__ import annotations

from inferwatch.detectors.config import EpisodeSettings
from inferwatch.detectors.contract import NS, SEVERITY_RANK
from inferwatch.detectors.pickling import Slotted



class Episode(Slotted):
    """The episode state of one signal on one series."""

    __slots__ = ("active", "above", "below", "severity", "started_ns", "emitted_ns", "peak")

    def __init__(self) -> None:
        self.active = False
        self.above = 0
        self.below = 0
        self.severity = "warning"
        self.started_ns = 0
        self.emitted_ns = 0
        self.peak = 0.0

    def step(self, score: float, t_ns: int, settings: EpisodeSettings, confirm: int) -> str | None:
        """Feed one bucket's score; returns ``firing`` (open or meaningful change), ``resolved`` or None."""
        anomalous = score >= settings.fire_score
        self.above = self.above + 1 if anomalous else 0
        self.below = self.below + 1 if score < settings.clear_score else 0
        level = "critical" if score >= settings.critical_score else "warning"
        if not self.active:
            if self.above < confirm:
                return None
            self.active, self.started_ns, self.emitted_ns = True, t_ns, t_ns
            self.severity, self.peak = level, score
            return "firing"
        self.peak = max(self.peak, score)
        if self.below >= settings.resolve_buckets:
            self.active = False
            self.emitted_ns = t_ns
            return "resolved"
        if anomalous and SEVERITY_RANK[level] > SEVERITY_RANK[self.severity]:
            self.severity, self.emitted_ns = level, t_ns
            return "firing"
        if anomalous and t_ns - self.emitted_ns >= settings.renotify_s * NS:
            self.emitted_ns = t_ns
            return "firing"
        return None

    def rest(self, buckets: int, settings: EpisodeSettings) -> None:
        """What ``buckets`` calls of ``step(0.0, ...)`` do to an episode that is not active, at once: the engine
        does not judge, bucket by bucket, the signals of a silent series that observe nothing (``detectors.engine``).

        >>> a, b, s = Episode(), Episode(), EpisodeSettings()
        >>> a.above = b.above = 1
        >>> [a.step(0.0, t, s, confirm=2) for t in range(3)], b.rest(3, s), (a.above, a.below) == (b.above, b.below)
        ([None, None, None], None, True)
        """
        if buckets:
            self.above = 0
            self.below = self.below + buckets if 0.0 < settings.clear_score else 0
