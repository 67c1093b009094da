"""The anomaly record contract: the one place every package reads the record's shape, severities, kinds and units.

``detectors`` writes anomaly records, ``streams`` carries them, ``alerting`` acts on them; all three import the facts
from here. Why in ``detectors``: the three folders stay as they are, and ``detectors`` is the package every other may
import (``alerting`` and ``streams`` already import ``detectors.durations`` the same way); this module imports nothing
of ours, so ``alerting`` importing it pulls in no detector (nor River, NumPy or SciPy). ``alerting`` imports nothing
else from ``detectors``.

Severities go from least to most urgent; a record's severity only ever rises within an episode, and the alert
store's Lua scripts get ``SEVERITY_RANK`` as an argument (``SEVERITY_RANKS_JSON``) rather than a copy.

>>> [SEVERITY_RANK[s] for s in SEVERITIES]
[0, 1, 2]
>>> severity_rank("critical"), severity_rank("unheard-of") == SEVERITY_RANK[DEFAULT_SEVERITY]
(2, True)
>>> SEVERITY_RANKS_JSON
'{"info":0,"warning":1,"critical":2}'
>>> 90 * NS
90000000000
"""
import json  # no ``from __future__ import annotations``: TypedDict must see NotRequired at run time
from typing import Any, Literal, NotRequired, TypedDict

#: nanoseconds per second: event and record times are integer ``*_unix_nano``
NS = 1_000_000_000

Severity = Literal["info", "warning", "critical"]
#: least to most urgent
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
SEVERITY_RANK: dict[str, int] = {severity: rank for rank, severity in enumerate(SEVERITIES)}
#: ``SEVERITY_RANK`` as the JSON object a Lua script decodes (``cjson.decode``) instead of keeping its own table
SEVERITY_RANKS_JSON = json.dumps(SEVERITY_RANK, separators=(",", ":"))
#: what a record without a (known) severity is taken to be
DEFAULT_SEVERITY: Severity = "warning"

Status = Literal["firing", "resolved"]
#: ``firing`` opens or updates an episode, ``resolved`` closes it
STATUSES: tuple[Status, ...] = ("firing", "resolved")

#: every ``kind`` a record can carry (a record's ``kind`` says what sort of change its detector saw)
RECORD_KINDS = ("threshold", "rate", "throughput", "data_drift", "concept_drift", "variant_regression", "slo_burn",
                "cardinality")


class AnomalyRecord(TypedDict):
    """One anomaly record as published on the anomalies topic (docs/anomaly-record.md): the pinned fields every
    record has, then the extras a signal adds (``NotRequired``)."""

    time_unix_nano: int
    kind: str
    signal: str
    labels: dict[str, Any]
    value: Any
    expected: Any
    score: float
    severity: Severity
    detector: str
    fingerprint: str
    exemplars: list[Any]
    status: Status
    episode_started_unix_nano: int
    peak_score: float
    unit: NotRequired[str]
    band: NotRequired[list[float]]
    stages: NotRequired[list[dict[str, Any]]]
    contributors: NotRequired[dict[str, list[dict[str, Any]]]]
    error_types: NotRequired[dict[str, int]]
    events: NotRequired[int]
    trials: NotRequired[int]
    calls: NotRequired[int]
    objective: NotRequired[float]
    indicator: NotRequired[str]
    error_budget_left: NotRequired[float | None]
    lowest_scoring_inputs: NotRequired[list[dict[str, Any]]]
    baseline_variant: NotRequired[str]


def severity_rank(severity: str) -> int:
    """Where ``severity`` stands in ``SEVERITIES`` (an unknown one counts as ``DEFAULT_SEVERITY``)."""
    return SEVERITY_RANK.get(severity, SEVERITY_RANK[DEFAULT_SEVERITY])
