"""Labelled incidents: what the simulator injects and what the benchmark scorer expects the detectors to find.

An incident is a named kind, a time span relative to the start of the simulated stream, the labels it hits (event
fields that must match, e.g. a service and model, or a tenant) and a magnitude whose meaning depends on the kind.
Written as ``KIND@START+DURATION[:label=value,...]`` on the command line, e.g. ``latency_spike@20m+5m:service.name=chat``.

>>> parse_incident("error_burst@20m+4m:gen_ai.request.model=gpt-4o,magnitude=0.2")
Incident(kind='error_burst', start_s=1200.0, duration_s=240.0, labels={'gen_ai.request.model': 'gpt-4o'}, magnitude=0.2)
>>> parse_incident("meteor@1m+1m")
Traceback (most recent call last):
...
ValueError: meteor@1m+1m: unknown incident kind 'meteor' (known: canary_regression, embedding_shift, ...)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inferwatch.detectors.durations import parse_duration


@dataclass(frozen=True)
class IncidentKind:
    #: what the simulator does with ``magnitude``
    effect: str
    default_magnitude: float
    #: a sudden incident must be detected within the delay target; a gradual one only at all
    sudden: bool
    #: record signals that count as detecting it
    signals: tuple[str, ...]


LATENCY = "gen_ai.client.operation.duration"
INCIDENT_KINDS: dict[str, IncidentKind] = {
    "latency_spike": IncidentKind("latency multiplied by magnitude", 3.0, True,
                                  (LATENCY, "gen_ai.response.time_to_first_chunk")),
    "error_burst": IncidentKind("error probability set to magnitude", 0.15, True, ("error.rate",)),
    "traffic_surge": IncidentKind("request rate of the labels multiplied by magnitude", 4.0, True,
                                  ("request.rate",)),
    "traffic_stall": IncidentKind("the labels stop sending", 0.0, True, ("request.rate",)),
    "traffic_drop": IncidentKind("request rate of the labels multiplied by magnitude", 0.15, True, ("request.rate",)),
    "output_collapse": IncidentKind("output tokens multiplied by magnitude", 0.02, True,
                                    ("gen_ai.usage.output_tokens", "app.cost.usd")),
    "latency_creep": IncidentKind("latency grows linearly to magnitude times by the end", 2.5, False,
                                  (LATENCY, "gen_ai.response.time_to_first_chunk")),
    "language_shift": IncidentKind("share magnitude of inputs switches to an unseen language", 0.4, False,
                                   ("app.input.language", "app.input.chars", "gen_ai.usage.input_tokens",
                                    "app.input.topic", "app.input.embedding")),
    "embedding_shift": IncidentKind("share magnitude of inputs is a kind of request not seen before: their embeddings "
                                    "move, their language and topic labels do not", 0.3, False,
                                    ("app.input.embedding",)),
    "retrieval_slowdown": IncidentKind("retrieval stage duration multiplied by magnitude", 3.0, True,
                                       ("app.stage.retrieval.duration",)),
    "quality_drop": IncidentKind("evaluation scores lowered by magnitude", 0.3, False,
                                 ("evaluation.score", "evaluation.error", "feedback.negative.rate")),
    "canary_regression": IncidentKind("canary variant latency multiplied by magnitude, errors up", 2.0, True,
                                      ("variant.latency", "variant.error.rate")),
    "safety_wave": IncidentKind("prompt-injection flag probability set to magnitude", 0.2, True,
                                ("app.safety.prompt_injection.rate", "app.safety.blocked.rate")),
}


@dataclass(frozen=True)
class Incident:
    kind: str
    start_s: float
    duration_s: float
    labels: dict = field(default_factory=dict)
    magnitude: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            known = ", ".join(sorted(INCIDENT_KINDS)[:2] + ["..."])
            raise ValueError(f"unknown incident kind {self.kind!r} (known: {known})")
        if self.magnitude is None:
            object.__setattr__(self, "magnitude", INCIDENT_KINDS[self.kind].default_magnitude)

    def matches(self, event: dict) -> bool:
        return all(event.get(k) == v for k, v in self.labels.items())


def parse_incident(spec: str) -> Incident:
    """Parse ``KIND@START+DURATION[:label=value,...]``; the label ``magnitude`` sets the magnitude."""
    head, _, tail = spec.partition(":")
    kind, at, span = head.partition("@")
    start, plus, duration = span.partition("+")
    if not at or not plus:
        raise ValueError(f"{spec}: expected KIND@START+DURATION[:label=value,...]")
    labels: dict = {}
    magnitude = None
    for pair in filter(None, tail.split(",")):
        name, eq, value = pair.partition("=")
        if not eq:
            raise ValueError(f"{spec}: label {pair!r} must be name=value")
        if name == "magnitude":
            magnitude = float(value)
        else:
            labels[name] = value
    try:
        return Incident(kind, parse_duration(start), parse_duration(duration), labels, magnitude)
    except ValueError as exc:
        raise ValueError(f"{spec}: {exc}") from None


def manifest(incidents: list[Incident], start_ns: int, duration_s: float, seed: int) -> dict:
    """The labelled-incidents document: each incident with its absolute event-time span."""
    return {
        "seed": seed, "start_unix_nano": start_ns, "duration_s": duration_s,
        "incidents": [{**asdict(i), "start_unix_nano": start_ns + int(i.start_s * 1e9),
                       "end_unix_nano": start_ns + int((i.start_s + i.duration_s) * 1e9)} for i in incidents],
    }


def write_manifest(path: str | Path, incidents: list[Incident], start_ns: int, duration_s: float, seed: int) -> None:
    Path(path).write_text(json.dumps(manifest(incidents, start_ns, duration_s, seed), indent=2) + "\n")


def read_manifest(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
