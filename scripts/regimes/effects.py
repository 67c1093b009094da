"""How big each injected incident really was, in its series' normal standard deviations over its span.

Issue 7's target holds the detectors to incidents "at least 3 of the series' normal standard deviations over its
span". This measures that on the stream itself instead of trusting the generator's arithmetic: for each incident,
the calls on its labels (by their true time, each once: skewed clocks and redeliveries are the detectors' problem,
not a smaller incident) are cut into windows as long as the incident, aligned on it; the incident's window
statistic (a mean of the kind's metric, or a count for traffic) is compared with the same statistic over the
windows that no incident on that service touches: ``effect_sd = |x - mean| / sd``.

>>> import random
>>> rng = random.Random(1)
>>> inc = Incident("traffic_drop", 600, 300, {"service.name": "a"})
>>> meter = EffectMeter([inc])
>>> for t in range(0, 6000):  # about 1 call/s, a sixth of that during the drop
...     if rng.random() < (0.15 if 600 <= t < 900 else 1.0) * 0.9:
...         meter.add({"service.name": "a"}, t)
>>> meter.effect_sd()[0] > 3
True
"""
from __future__ import annotations

import math
import statistics
from typing import Callable

from scripts.regimes.truth import Incident



def _log(field: str) -> Callable[[dict], float | None]:
    def read(event: dict) -> float | None:
        value = event.get(field)
        return math.log(value + 1e-3) if isinstance(value, (int, float)) and not event.get("error.type") else None
    return read


def _share(test: Callable[[dict], bool]) -> Callable[[dict], float | None]:
    return lambda event: 1.0 if test(event) else 0.0


#: reported instead of an infinite effect (a series whose normal windows never vary); keeps the JSON standard
MAX_EFFECT_SD = 999.0
COUNT = None
#: the statistic each kind moves: a per-call value whose window mean is compared, or COUNT (calls per window)
METRICS: dict[str, Callable[[dict], float | None] | None] = {
    "latency_spike": _log("gen_ai.client.operation.duration"),
    "error_burst": _share(lambda e: bool(e.get("error.type"))),
    "traffic_stall": COUNT,
    "traffic_drop": COUNT,
    "traffic_surge": COUNT,
    "tenant_tokens": _log("gen_ai.usage.input_tokens"),
    "ttfc_regression": _log("gen_ai.response.time_to_first_chunk"),
    "output_collapse": _log("gen_ai.usage.output_tokens"),
    "safety_wave": _share(lambda e: bool(e.get("app.safety.prompt_injection"))),
    "retrieval_slowdown": _log("app.stage.retrieval.duration"),
    "quality_drop": lambda e: e.get("gen_ai.evaluation.score.value"),
}


class EffectMeter:
    """Feed it every event of a stream (``add``); ``effect_sd`` gives one number per incident (None if unknown)."""

    def __init__(self, incidents: list[Incident]) -> None:
        self.incidents = incidents
        self.windows: list[dict[int, list[float]]] = [{} for _ in incidents]  # index -> [calls, sum]
        self.by_service: dict[str, list[int]] = {}
        for i, inc in enumerate(incidents):
            self.by_service.setdefault(inc.labels.get("service.name", ""), []).append(i)

    def add(self, event: dict, t_s: float) -> None:
        """Count one event, first delivery only, at ``t_s`` (true seconds from the start)."""
        for i in self.by_service.get(event.get("service.name", ""), ()):
            inc = self.incidents[i]
            if not all(event.get(k) == v for k, v in inc.labels.items()):
                continue
            evaluation = event.get("event.kind") == "evaluation"
            if evaluation != (inc.kind == "quality_drop"):
                continue
            metric = METRICS[inc.kind]
            value = 1.0 if metric is None else metric(event)
            if value is None:
                continue
            window = self.windows[i].setdefault(math.floor((t_s - inc.start_s) / inc.duration_s), [0.0, 0.0])
            window[0] += 1
            window[1] += value

    def effect_sd(self) -> list[float | None]:
        return [self._effect(i) for i in range(len(self.incidents))]

    def _effect(self, i: int) -> float | None:
        inc, windows = self.incidents[i], self.windows[i]
        count = METRICS[inc.kind] is None
        busy = {w for j, other in enumerate(self.incidents)
                if other.labels.get("service.name") == inc.labels.get("service.name")
                for w in range(math.floor((other.start_s - inc.start_s) / inc.duration_s),
                               math.ceil((other.end_s + 300.0 - inc.start_s) / inc.duration_s))}
        last = max(windows, default=0)
        normal = [self._stat(windows.get(w), count) for w in range(min(windows, default=0), last)
                  if w not in busy and (count or windows.get(w))]
        normal = [x for x in normal if x is not None]
        x = self._stat(windows.get(0), count)
        if x is None or len(normal) < 3:
            return None
        sd = statistics.stdev(normal)
        if sd == 0:  # e.g. no flagged call in any normal window of a thin series
            return MAX_EFFECT_SD if x != statistics.mean(normal) else 0.0
        return min(MAX_EFFECT_SD, round(abs(x - statistics.mean(normal)) / sd, 1))

    @staticmethod
    def _stat(window: list[float] | None, count: bool) -> float | None:
        if count:
            return window[0] if window else 0.0
        return window[1] / window[0] if window and window[0] else None
