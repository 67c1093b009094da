"""Delivering: sending what the lifecycle decided, in stages, as Alertmanager's notify pipeline does.

``Delivery.deliver`` takes one claimed outbox entry through these stages, in this order: find its target and alert
-> wait for the message it builds on (an update of the first page, see ``Lifecycle._announce``) -> place a first
page in its group's thread (``grouping``) -> send, update or resolve through the notifier -> settle: sent, or
retried with exponential backoff (at least the provider's Retry-After) until the attempt or time budget runs out,
or failed for good, which makes the level escalate at once. Dedup by idempotency key is already guaranteed by the
outbox (an entry is claimed by one instance at a time and settled once).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Callable

from inferwatch.alerting.alert import Alert, AlertView, RunbookLink, episode_key
from inferwatch.alerting.config import AlertingSettings
from inferwatch.alerting.grouping import ThreadGroups
from inferwatch.alerting.lifecycle import Guard
from inferwatch.alerting.metrics import AlertingMetrics
from inferwatch.alerting.notifiers import THREADED, Notification, Notifier, NotifierError, Thread
from inferwatch.alerting.outbox import Outbox, OutboxEntry
from inferwatch.alerting.store import AlertStore, Change

log = logging.getLogger(__name__)

#: how long a message waits for the first page it updates to be delivered
DEPENDENCY_WAIT_S = 1.0
#: outbox entries claimed per batch
CLAIM_BATCH = 50


class Delivery:
    """Drains the outbox: each claimed entry goes through ``deliver``'s stages to its notifier."""

    def __init__(self, settings: AlertingSettings, store: AlertStore, outbox: Outbox, notifiers: dict[str, Notifier],
                 metrics: AlertingMetrics, instance: str,
                 runbook_link: Callable[[Alert], RunbookLink | None]) -> None:
        self.settings = settings
        self.store = store
        self.outbox = outbox
        self.notifiers = notifiers
        self.metrics = metrics
        self.instance = instance
        self.runbook_link = runbook_link
        self.groups = ThreadGroups(store, outbox, settings.grouping,
                                   [name for name, t in settings.targets.items() if t.type in THREADED])

    def drain(self, now: float, guard: Guard, max_entries: int = 500) -> int:
        """Deliver due outbox entries; returns how many were claimed."""
        done = 0
        while done < max_entries:
            batch = self.outbox.claim(now, self.instance, self.settings.retry.lease_s, CLAIM_BATCH)
            if not batch:
                break
            for entry in batch:
                guard("deliver", entry.fingerprint, lambda: self.deliver(entry, now))
            done += len(batch)
        return done

    def deliver(self, entry: OutboxEntry, now: float) -> None:
        notifier = self.notifiers.get(entry.target)
        alert = self.store.load(entry.fingerprint)
        if notifier is None or alert is None:
            why = f"unknown target {entry.target!r}" if notifier is None else f"alert {entry.fingerprint} vanished"
            self._settle_failed(entry, now, why)
            return
        ref: dict[str, Any] | None = None
        if entry.after:
            ready, ref = self._delivered(entry.after)
            if not ready:
                self._wait(entry, now, "waiting for the first page")
                return
            if ref is None and entry.action != "send":
                self._settle(entry, now, "skipped", error="the first page to this target was never delivered")
                return
        thread = None
        if entry.action == "send" and ref is None:
            ready, thread = self._thread(entry, alert, now)
            if not ready:
                self._wait(entry, now, "waiting for the first message of its group")
                return
        try:
            notification = self._notification(entry, alert, thread)
            if entry.action == "send" and ref is None:
                result = notifier.send(notification)
            elif entry.action == "resolve":
                result = notifier.resolve(notification, ref or {})
            else:
                result = notifier.update(notification, ref or {})
        except NotifierError as exc:
            self._retry_or_fail(entry, now, exc)
            return
        except Exception as exc:  # a bug in a notifier must not stop the others; retry as if transient
            log.exception("notifier %s crashed delivering %s", entry.target, entry.key)
            self._retry_or_fail(entry, now, NotifierError(f"internal error: {type(exc).__name__}", retryable=True))
            return
        if self._settle(entry, now, "sent", ref=result) and entry.action == "send" and entry.event == "firing":
            self.metrics.first_page.labels(target=entry.target).observe(max(0.0, now - alert.opened_at))

    def _delivered(self, key: str) -> tuple[bool, dict[str, Any] | None]:
        """(settled?, provider reference if it was sent) of the message ``key``, which another one builds on."""
        first = self.outbox.get(key)
        if first is not None and first.status in ("queued", "sending"):
            return False, None
        return True, first.ref if first is not None and first.status == "sent" else None

    def _thread(self, entry: OutboxEntry, alert: Alert, now: float) -> tuple[bool, Thread | None]:
        """Where a first page goes (see ``grouping``): (can it go now?, the thread to post in or None)."""
        placement = self.groups.place(entry, alert, now)
        if placement is None:
            return True, None
        ready, parent_ref = self._delivered(placement.parent)
        if not ready and now - entry.created_at >= self.settings.grouping.max_wait_s:
            self.groups.leave(entry)  # the group's first message is stuck: no page waits any longer for a thread
            return True, None
        # a group whose first message never got through: this page goes to the channel instead
        return ready, Thread(parent_ref, placement.broadcast) if parent_ref is not None else None

    def _wait(self, entry: OutboxEntry, now: float, why: str) -> None:
        self.outbox.settle(entry, self.instance, "queued", now, error=why, next_at=now + DEPENDENCY_WAIT_S,
                           refund=True)

    def _retry_or_fail(self, entry: OutboxEntry, now: float, exc: NotifierError) -> None:
        retry = self.settings.retry
        delay = min(retry.backoff_max_s, retry.backoff_base_s * 2 ** (entry.attempts - 1))
        delay = max(delay, exc.retry_after or 0.0)
        started = entry.first_attempt_at or now
        if exc.retryable and entry.attempts < retry.max_attempts and now + delay - started <= retry.budget_s:
            log.warning("delivery %s to %s failed (%s); retry %d in %.1fs", entry.key, entry.target, exc.reason,
                        entry.attempts, delay)
            self.metrics.deliveries.labels(target=entry.target, outcome="retry").inc()
            self.outbox.settle(entry, self.instance, "queued", now, error=exc.reason, next_at=now + delay)
            return
        why = exc.reason if not exc.retryable else f"{exc.reason} (retry budget exhausted after {entry.attempts} " \
                                                   "attempts)"
        self._settle_failed(entry, now, why)

    def _settle_failed(self, entry: OutboxEntry, now: float, reason: str) -> None:
        log.error("delivery %s to %s failed permanently: %s", entry.key, entry.target, reason)
        self.metrics.errors.labels(reason="delivery_failed").inc()
        if not self._settle(entry, now, "failed", error=reason) or entry.action != "send":
            return

        def mark(alert: Alert) -> Change | None:
            if alert.episode != entry.episode or entry.key not in alert.level_pages:
                return None
            alert.failed_pages = sorted(set(alert.failed_pages) | {entry.key})
            return Change(alert, due_at=now)  # the escalation step sees the failure on the next evaluation
        self.store.transact(entry.fingerprint, mark, now)

    def _settle(self, entry: OutboxEntry, now: float, status: str, *, ref: dict | None = None,
                error: str = "") -> bool:
        detail = f"{entry.action} {entry.event} to {entry.target}: {status}" + (f" ({error})" if error else "")
        ok = self.outbox.settle(entry, self.instance, status, now, ref=ref, error=error,
                                audit={"actor": self.instance, "event": f"delivery-{status}", "detail": detail,
                                       "key": entry.key, "attempt": entry.attempts})
        if ok:
            self.metrics.deliveries.labels(target=entry.target, outcome=status).inc()
        else:
            log.warning("delivery %s: claim lost before recording %s (lease expired?)", entry.key, status)
        return ok

    def _notification(self, entry: OutboxEntry, alert: Alert, thread: Thread | None) -> Notification:
        view = AlertView.of(alert, self.runbook_link(alert))
        if alert.episode != entry.episode:  # the alert re-opened since: speak about the episode this entry belongs to
            view = replace(view, episode=entry.episode, dedup_key=episode_key(alert.fingerprint, entry.episode),
                           state="resolved" if entry.action == "resolve" else view.state)
        return Notification(idempotency_key=entry.key, event=entry.event, actor=entry.actor,  # type: ignore[arg-type]
                            alert=view, attempt=entry.attempts, page=entry.action == "send", thread=thread)
