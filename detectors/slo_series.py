"""SLO series: the events one declared objective covers, counted good and bad per event-time bucket.

Each SLO is a key set of its own (``detectors.keysets``): its ``selector`` picks the events, its ``group_by`` cuts them
into series, and its one signal is the burn rate (``detectors.slo_burn``). Counting here, apart from the model series'
buckets, is what lets an objective cover a whole service (every model of it) or one tenant, as the user declared it.

>>> slo = SloSettings(name="fast", indicator="latency", threshold=5.0, selector={"service.name": "chat"})
>>> b = SloBucket(slo)
>>> for duration, error in [(1.0, None), (7.0, None), (0.5, "timeout")]:
...     b.add({"gen_ai.client.operation.duration": duration, "error.type": error, "event.id": "e"}, 3)
>>> b.calls, b.bad, b.ids
(3, 2, ['e', 'e'])
>>> e = SloBucket(SloSettings(name="quality", indicator="evaluation", threshold=0.7))
>>> e.add({"event.kind": "evaluation", "gen_ai.evaluation.score.value": 0.4, "event.id": "v"}, 3)
>>> e.add({"event.kind": "llm_call", "gen_ai.client.operation.duration": 1.0, "event.id": "c"}, 3)
>>> e.calls, e.bad
(1, 1)
"""
from __future__ import annotations

from inferwatch.detectors.config import SloSettings
from inferwatch.detectors.pickling import Slotted


class SloBucket(Slotted):
    """Events an SLO counted in one bucket (``calls``) and how many of them were bad; exemplars of the bad ones."""

    __slots__ = ("calls", "bad", "ids", "_indicator", "_threshold")

    def __init__(self, slo: SloSettings) -> None:
        self.calls = self.bad = 0
        self.ids: list = []
        self._indicator = slo.indicator
        self._threshold = slo.threshold

    def compact(self) -> None:
        self.ids = ()

    def add(self, event: dict, exemplars: int) -> None:
        bad = self._judge(event)
        if bad is None:
            return
        self.calls += 1
        if bad:
            self.bad += 1
            if len(self.ids) < exemplars:
                self.ids.append(event.get("trace_id") or event.get("event.id"))

    def _judge(self, event: dict) -> bool | None:
        """Whether the event is bad for this SLO; None when the SLO does not count it at all."""
        kind = event.get("event.kind", "llm_call")
        indicator = self._indicator
        if indicator == "evaluation":
            score = event.get("gen_ai.evaluation.score.value") if kind == "evaluation" else None
            return None if score is None else score < self._threshold
        if kind != "llm_call":
            return None
        failed = event.get("error.type") is not None
        if indicator == "errors":
            return failed
        field = "gen_ai.client.operation.duration" if indicator == "latency" else "gen_ai.response.time_to_first_chunk"
        value = event.get(field)
        if value is None:
            return True if failed and indicator == "latency" else None
        return failed or value > self._threshold
