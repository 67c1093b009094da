"""Scoring anomaly records against a labelled incident manifest: was each incident detected, how fast, and how many
false-alarm episodes came on top.

A firing record detects an incident when its signal is one the incident kind is expected to move, it names every
label of the incident (in its ``labels``, or among its ``contributors``: a surge record that names the tenant behind
it), and its time falls in the incident's span plus ``grace_s``. So a tenant's surge is detected by the tenant's
series, or by a model series that names the tenant, not by any series that happened to fire. An episode (one
fingerprint from a firing record to its resolution) that touches no incident span on agreeing labels (no field
present in both differs) is a false alarm; one that does touch one but on another signal is a side effect, counted
apart.

>>> from inferwatch.detectors.incidents import Incident
>>> inc = Incident("error_burst", 600, 120, {"service.name": "chat"})
>>> rec = {"time_unix_nano": 630 * 10**9, "signal": "error.rate", "labels": {"service.name": "chat"},
...        "status": "firing", "fingerprint": "f1", "episode_started_unix_nano": 630 * 10**9}
>>> fa = dict(rec, time_unix_nano=100 * 10**9, fingerprint="f2", episode_started_unix_nano=100 * 10**9)
>>> r = evaluate([rec, fa], [inc], duration_s=3600, start_ns=0)
>>> r.injected, r.detected, r.false_alarm_episodes, r.false_alarm_episodes_per_hour, r.rows[0].delay_s
(1, 1, 1, 1.0, 30.0)
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from inferwatch.detectors.contract import NS
from inferwatch.detectors.incidents import INCIDENT_KINDS, Incident

DEFAULT_GRACE_S = 300.0


@dataclass
class IncidentResult:
    kind: str
    labels: dict
    start_s: float
    duration_s: float
    detected: bool
    delay_s: float | None
    signals: list[str]


@dataclass
class Report:
    rows: list[IncidentResult]
    duration_s: float
    false_alarm_episodes: int
    side_effect_episodes: int
    false_alarms: list[dict] = field(default_factory=list)

    @property
    def injected(self) -> int:
        return len(self.rows)

    @property
    def detected(self) -> int:
        return sum(r.detected for r in self.rows)

    @property
    def false_alarm_episodes_per_hour(self) -> float:
        return round(self.false_alarm_episodes / (self.duration_s / 3600.0), 3) if self.duration_s else 0.0

    def median_delay_s(self, sudden_only: bool = True) -> float | None:
        delays = [r.delay_s for r in self.rows if r.delay_s is not None and (INCIDENT_KINDS[r.kind].sudden or not sudden_only)]
        return statistics.median(delays) if delays else None

    def table(self) -> str:
        lines = ["| incident | labels | start | duration | detected | delay (s) | signals |", "|---|---|---|---|---|---|---|"]
        for r in self.rows:
            labels = ",".join(f"{k}={v}" for k, v in r.labels.items()) or "*"
            delay = f"{r.delay_s:.0f}" if r.delay_s is not None else "-"
            lines.append(f"| {r.kind} | {labels} | {r.start_s:.0f}s | {r.duration_s:.0f}s | "
                         f"{'yes' if r.detected else 'NO'} | {delay} | {', '.join(r.signals)} |")
        median = self.median_delay_s()
        lines.append("")
        lines.append(f"injected={self.injected} detected={self.detected} "
                     f"median_delay_sudden_s={'-' if median is None else f'{median:.0f}'} "
                     f"false_alarm_episodes={self.false_alarm_episodes} "
                     f"per_hour={self.false_alarm_episodes_per_hour} side_effect_episodes={self.side_effect_episodes}")
        return "\n".join(lines)


def _span(incident, start_ns: int | None) -> tuple[Incident, int, int]:
    if isinstance(incident, dict):
        fields = {k: incident[k] for k in ("kind", "start_s", "duration_s", "labels", "magnitude") if k in incident}
        inc = Incident(**fields)
        begin = incident.get("start_unix_nano")
        if begin is None:
            if start_ns is None:
                raise ValueError("incident without start_unix_nano: pass start_ns")
            begin = start_ns + int(inc.start_s * NS)
        return inc, begin, begin + int(inc.duration_s * NS)
    if start_ns is None:
        raise ValueError("Incident objects carry relative times: pass start_ns")
    begin = start_ns + int(incident.start_s * NS)
    return incident, begin, begin + int(incident.duration_s * NS)


def _agree(a: dict, b: dict) -> bool:
    return all(b[k] == v for k, v in a.items() if k in b)


def _names(record: dict, labels: dict) -> bool:
    """Whether the record says it is about these labels: in its own labels or among its top contributors."""
    contributors = record.get("contributors") or {}
    return all(record["labels"].get(k) == v or any(c["value"] == v for c in contributors.get(k, ()))
               for k, v in labels.items())


def evaluate(records: list[dict], incidents: list, duration_s: float, start_ns: int | None = None,
             grace_s: float = DEFAULT_GRACE_S) -> Report:
    """Match firing records to incidents (``Incident`` objects with ``start_ns``, or manifest dicts)."""
    spans = [_span(i, start_ns) for i in incidents]
    grace_ns = int(grace_s * NS)
    rows = []
    for inc, begin, end in spans:
        hits = sorted((r["time_unix_nano"], r["signal"]) for r in records
                      if r.get("status", "firing") == "firing" and r["signal"] in INCIDENT_KINDS[inc.kind].signals
                      and begin <= r["time_unix_nano"] <= end + grace_ns and _names(r, inc.labels))
        rows.append(IncidentResult(inc.kind, dict(inc.labels), inc.start_s, inc.duration_s, bool(hits),
                                   (hits[0][0] - begin) / NS if hits else None, sorted({s for _, s in hits})))
    episodes: dict[tuple, dict] = {}
    for r in records:
        if r.get("status", "firing") == "firing":
            episodes.setdefault((r["fingerprint"], r.get("episode_started_unix_nano", r["time_unix_nano"])), r)
    false_alarms, side_effects = [], 0
    for first in episodes.values():
        t = first["time_unix_nano"]
        touching = [inc for inc, begin, end in spans
                    if begin <= t <= end + grace_ns and _agree(inc.labels, first["labels"])]
        if not touching:
            false_alarms.append(first)
        elif not any(first["signal"] in INCIDENT_KINDS[inc.kind].signals for inc in touching):
            side_effects += 1
    return Report(rows, duration_s, len(false_alarms), side_effects, false_alarms)
