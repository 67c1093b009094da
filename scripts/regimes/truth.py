"""What the generator injects and the harness expects to be found: incidents and deploys, with known spans.

An incident names the labels it hits (a service and model, or a service and tenant) and a time span in seconds from
the start of the stream (true time, before any producer's clock skew). It is *detected* by a firing record or page
whose signal is one of its kind's ``signals`` (matched as substrings, so a renamed signal of the same family still
counts) and which names its labels (in its labels or among its contributors) within its span plus ``GRACE_S``.
A deploy is not an incident: it changes a series' normal for good and may page at most once.

>>> schedule(["latency_spike", "error_burst", "safety_wave"], lanes=2, warmup_s=600, span_s=300, gap_s=300,
...          duration_s=1800)
[(0, 600.0, 'latency_spike'), (1, 900.0, 'error_burst'), (0, 1200.0, 'safety_wave')]
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: after an incident ends, a record or page about it still counts as detecting it (buckets close late, windows lag)
GRACE_S = 300.0


@dataclass(frozen=True)
class Kind:
    effect: str
    #: substrings of record signals that count as detecting it
    signals: tuple[str, ...]
    #: the labels it hits: a whole series ("series") or one tenant of a service ("tenant")
    scope: str = "series"
    #: a sudden kind is held to the delay target; a gradual one only to being detected
    sudden: bool = True


KINDS: dict[str, Kind] = {
    "latency_spike": Kind("every call 3x slower", ("operation.duration", "time_to_first_chunk", "latency")),
    "error_burst": Kind("error probability 0.25", ("error",)),
    "traffic_stall": Kind("the series stops sending", ("request.rate", "traffic")),
    "traffic_drop": Kind("series rate x0.15", ("request.rate", "traffic")),
    "traffic_surge": Kind("one tenant sends 6x its usual rate", ("request.rate", "traffic"), scope="tenant"),
    "tenant_tokens": Kind("one tenant's input tokens x4 (and so its cost)", ("input_tokens", "cost"),
                          scope="tenant"),
    "ttfc_regression": Kind("time to first chunk x4 on streaming calls", ("time_to_first_chunk", "ttfc")),
    "output_collapse": Kind("output tokens x0.05", ("output_tokens", "cost")),
    "safety_wave": Kind("prompt-injection flag probability 0.25, half of them blocked", ("safety",)),
    "retrieval_slowdown": Kind("retrieval stage x5", ("retrieval",)),
    "quality_drop": Kind("evaluation scores lowered by 0.3", ("evaluation", "feedback"), sudden=False),
}
#: a deploy's signal families: a pages about these on the deployed series counts against the deploy
DEPLOY_SIGNALS = {"model_version": ("operation.duration", "time_to_first_chunk", "latency", "stage"),
                  "prompt_change": ("input_tokens", "input_chars", "cost")}


@dataclass(frozen=True)
class Incident:
    kind: str
    start_s: float
    duration_s: float
    labels: dict = field(default_factory=dict)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def to_dict(self) -> dict:
        return {**asdict(self), "sudden": KINDS[self.kind].sudden}


@dataclass(frozen=True)
class Deploy:
    kind: str  # model_version | prompt_change
    start_s: float
    labels: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def schedule(kinds: list[str], lanes: int, warmup_s: float, span_s: float, gap_s: float,
             duration_s: float) -> list[tuple[int, float, str]]:
    """(lane, start, kind) for each kind that fits: lanes (series) take turns, staggered so that no two incidents
    start together; kinds that do not fit before the end (with a gap to spare) are left out."""
    slot = span_s + gap_s
    placed = []
    for i, kind in enumerate(kinds):
        lane, round_ = i % lanes, i // lanes
        start = warmup_s + round_ * slot + lane * slot / lanes
        if start + span_s + gap_s / 2 <= duration_s:
            placed.append((lane, float(start), kind))
    return placed


def signal_matches(kind_signals: tuple[str, ...], signal: str) -> bool:
    return any(s in signal for s in kind_signals)
