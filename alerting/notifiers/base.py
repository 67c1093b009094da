"""The notifier protocol: three calls, one error type.

A notifier talks to one provider and nothing else: no retries, no dedup, no muting (the engine owns those, once).
``send`` delivers the first page of an episode to a target and returns the provider's *reference* (Slack channel + ts,
PagerDuty dedup_key), which the engine keeps so ``update`` and ``resolve`` act on the same message/incident. A first
page may come with a ``Thread``: the reference of a related alert's message to post under (grouping); channels
without threads ignore it.
Every failure is a ``NotifierError`` that says whether trying again can help and, if the provider said so, when.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from inferwatch.alerting.alert import AlertView

#: the transition a message announces (thread reply text, PagerDuty action)
Event = Literal["firing", "escalated", "acknowledged", "refired", "resolved"]


@dataclass(frozen=True)
class Thread:
    """The message of the group's first alert, which a related alert's first page is posted under."""

    #: what ``send`` returned for that message (Slack: channel + ts)
    ref: dict[str, Any]
    #: show the reply in the channel too: it is more severe than the alert that opened the thread
    broadcast: bool = False


@dataclass(frozen=True)
class Notification:
    idempotency_key: str
    event: Event
    #: who caused the transition: "engine", "cli:alice", "slack:U123", …
    actor: str
    alert: AlertView
    #: 1 on the first try; > 1 means an earlier try may have reached the provider (the engine crashed or timed out)
    attempt: int = 1
    #: a page (first or repeated) rather than an announcement of a transition: it may mention the target's people
    page: bool = False
    #: first pages only: post under this related alert's message (see alerting.grouping)
    thread: Thread | None = None


class NotifierError(Exception):
    """A delivery failed. ``retryable`` (429, 5xx, network) or permanent (400, bad token); never carries secrets."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Notifier(Protocol):
    def send(self, notification: Notification) -> dict[str, Any]:
        """Deliver the first page of an episode; return the reference later calls need."""

    def update(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        """Announce a transition (escalated, acknowledged, refired) on what ``send`` created."""

    def resolve(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        """Close what ``send`` created."""


def retryable_status(status: int) -> bool:
    """429 and 5xx can succeed later; every other HTTP error will fail the same way again.

    >>> [retryable_status(s) for s in (400, 401, 429, 500, 503)]
    [False, False, True, True, True]
    """
    return status == 429 or status >= 500


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the delta-seconds form; HTTP dates are ignored).

    >>> parse_retry_after("7"), parse_retry_after(None), parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT")
    (7.0, None, None)
    """
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
