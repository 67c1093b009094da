"""One alert: the state the engine keeps per fingerprint, and the read-only view notifiers render.

An alert lives through *episodes*: an episode opens with the first firing record after the alert was resolved (or
ever) and ends with a resolve. Pages, their idempotency keys and the PagerDuty ``dedup_key`` belong to one episode,
so a new episode after a resolve is a new incident, while everything inside one episode updates the same incident.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from inferwatch.alerting.matchers import match_labels
from inferwatch.detectors.contract import DEFAULT_SEVERITY  # the record contract: a leaf module, imports no detector

State = Literal["pending", "firing", "acknowledged", "resolved"]
ACTIVE_STATES = ("pending", "firing", "acknowledged")
#: record fields an ``AlertView`` carries in ``details`` for the page (alerting.templates)
DETAIL_FIELDS = ("unit", "stages", "contributors", "time_unix_nano")


@dataclass
class Alert:
    """Engine state of one fingerprint. ``record`` is the latest anomaly record; the rest is engine bookkeeping."""

    fingerprint: str
    state: State
    episode: int
    severity: str
    opened_at: float
    record: dict[str, Any]
    last_seen: float = 0.0
    count: int = 0
    #: wall time a ``status: resolved`` record asked for a resolve (0 = not asked)
    resolve_requested: float = 0.0
    #: wall times episodes were opened recently (flapping detection)
    opens: list[float] = field(default_factory=list)
    # --- engine bookkeeping (one JSON document in Redis) ---
    policy: str = ""
    runbook_id: str = ""
    level: int = 0
    round: int = 0
    #: when the current level was paged; None = not paged yet (pending, muted, or just escalated)
    level_paged_at: float | None = None
    ack_until: float = 0.0
    acked_by: str = ""
    resolved_at: float = 0.0
    resolved_by: str = ""
    #: "silence:<id>" / "inhibited:<fingerprint>" while muted, else ""
    muted_by: str = ""
    flapping: bool = False
    #: target name -> idempotency key of the first page it got this episode (later messages update that one)
    first_page: dict[str, str] = field(default_factory=dict)
    #: idempotency keys of pages of the current level that failed permanently
    failed_pages: list[str] = field(default_factory=list)
    #: idempotency keys of pages of the current level
    level_pages: list[str] = field(default_factory=list)
    #: counts transitions within the episode; part of the idempotency key of update/resolve messages
    transitions: int = 0
    #: the event the next page announces: firing (first), escalated, refired (after an acknowledgement expired)
    next_page_event: str = "firing"

    DOC_FIELDS = ("next_page_event", "policy", "runbook_id", "level", "round", "level_paged_at", "ack_until", "acked_by", "resolved_at",
                  "resolved_by", "muted_by", "flapping", "first_page", "failed_pages", "level_pages", "transitions")

    @classmethod
    def from_redis(cls, alert: dict[str, str], seen: dict[str, str]) -> "Alert":
        doc = json.loads(alert.get("doc") or "{}")
        return cls(
            fingerprint=alert["fingerprint"],
            state=alert["state"],  # type: ignore[arg-type]
            episode=int(alert.get("episode", 0)),
            severity=alert.get("severity", DEFAULT_SEVERITY),
            opened_at=float(alert.get("opened_at", 0)),
            record=json.loads(seen.get("record") or "{}"),
            last_seen=float(seen.get("last_seen", 0)),
            count=int(seen.get("count", 0)),
            resolve_requested=float(alert.get("resolve_requested") or 0),
            opens=[float(t) for t in (alert.get("opens") or "").split(",") if t],
            **{k: doc[k] for k in cls.DOC_FIELDS if k in doc},
        )

    def doc(self) -> str:
        return json.dumps({k: getattr(self, k) for k in self.DOC_FIELDS}, sort_keys=True)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def labels(self) -> dict[str, Any]:
        """What routing, silences, inhibition and runbooks match on (series labels + kind/signal/severity/detector)."""
        return match_labels({**self.record, "severity": self.severity})

    @property
    def series(self) -> dict[str, Any]:
        return dict(self.record.get("labels") or {})

    @property
    def dedup_key(self) -> str:
        """Stable per episode: PagerDuty folds re-sends into one incident and opens a new one after a resolve."""
        return episode_key(self.fingerprint, self.episode)


def episode_key(fingerprint: str, episode: int) -> str:
    """``inferwatch/<fingerprint>/<episode>``, hashed when the fingerprint would break PagerDuty's 255-char limit.

    >>> episode_key("abc", 2)
    'inferwatch/abc/2'
    >>> len(episode_key("x" * 400, 1)) < 255
    True
    """
    fp = fingerprint if len(fingerprint) <= 200 else hashlib.sha256(fingerprint.encode()).hexdigest()
    return f"inferwatch/{fp}/{episode}"


@dataclass(frozen=True)
class RunbookLink:
    id: str
    title: str
    url: str
    first_steps: list[str]


@dataclass(frozen=True)
class AlertView:
    """What a notifier sees: a snapshot of the alert at the time of sending, plus its runbook."""

    fingerprint: str
    episode: int
    state: str
    severity: str
    level: int
    kind: str
    signal: str
    detector: str
    labels: dict[str, Any]
    value: Any
    expected: Any
    score: Any
    exemplars: list[Any]
    count: int
    opened_at: float
    acked_by: str
    resolved_by: str
    flapping: bool
    dedup_key: str
    runbook: RunbookLink | None
    #: the record's fields a page shows besides the above (``DETAIL_FIELDS``: unit, stages, contributors, time)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, alert: Alert, runbook: RunbookLink | None) -> "AlertView":
        r = alert.record
        return cls(fingerprint=alert.fingerprint, episode=alert.episode, state=alert.state, severity=alert.severity,
                   level=alert.level, kind=str(r.get("kind", "")), signal=str(r.get("signal", "")),
                   detector=str(r.get("detector", "")), labels=alert.series, value=r.get("value"),
                   expected=r.get("expected"), score=r.get("score"), exemplars=list(r.get("exemplars") or []),
                   count=alert.count, opened_at=alert.opened_at, acked_by=alert.acked_by,
                   resolved_by=alert.resolved_by, flapping=alert.flapping, dedup_key=alert.dedup_key, runbook=runbook,
                   details={k: r[k] for k in DETAIL_FIELDS if k in r})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
