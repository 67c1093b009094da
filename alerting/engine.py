"""The escalation engine: decides what happens to each alert, then delivers what it decided.

Two halves, each readable top to bottom:

* ``evaluate`` runs ``steps`` on one alert, in this order: resolve (manual request or quiet period, unless flapping
  holds it open) -> acknowledgement expiry -> pending to firing (routing) -> escalation timer -> mute (silences,
  inhibition) -> page the current level. The result is committed atomically with its outbox entries (``AlertStore.
  transact``), so a step is taken once even with several engine instances.
* ``deliver`` sends one claimed outbox entry: dedup by idempotency key is already guaranteed by the outbox; an entry
  that builds on another message (an update of the first page, a page into its group's thread, see ``grouping``)
  waits until that one is settled; a retryable failure is retried with exponential backoff (at least the provider's
  Retry-After) until the attempt or time budget runs out, and a permanent failure is recorded and makes the level
  escalate at once.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol

from alerting.alert import Alert, AlertView, RunbookLink, episode_key
from alerting.config import AlertingSettings, PolicySettings
from alerting.grouping import ThreadGroups
from alerting.metrics import AlertingMetrics
from alerting.notifiers import THREADED, Notification, Notifier, NotifierError, Thread
from alerting.outbox import Outbox, OutboxEntry
from alerting.routing import Inhibitor, Router
from alerting.silences import Silence, SilenceStore
from alerting.store import AlertStore, AuditLine, Change

log = logging.getLogger(__name__)

#: how long a message waits for the first page it updates to be delivered
DEPENDENCY_WAIT_S = 1.0
#: outbox entries claimed per batch
CLAIM_BATCH = 50


class Runbooks(Protocol):
    """What the engine needs from ``alerting.runbooks.RunbookLibrary``."""

    def match(self, match_labels: dict) -> Any: ...


@dataclass
class TickContext:
    """Read once per tick and shared by every alert evaluated in it."""

    now: float
    silences: list[Silence] = field(default_factory=list)
    active: list[Alert] = field(default_factory=list)


class Engine:
    def __init__(self, settings: AlertingSettings, store: AlertStore, outbox: Outbox, silences: SilenceStore,
                 notifiers: dict[str, Notifier], runbooks: Runbooks | None, metrics: AlertingMetrics,
                 instance: str | None = None) -> None:
        self.settings = settings
        self.store = store
        self.outbox = outbox
        self.silences = silences
        self.notifiers = notifiers
        self.runbooks = runbooks
        self.metrics = metrics
        self.instance = instance or f"engine-{uuid.uuid4().hex[:8]}"
        self.router = Router(settings)
        self.inhibitor = Inhibitor(settings)
        self.groups = ThreadGroups(store, outbox, settings.grouping,
                                   [name for name, t in settings.targets.items() if t.type in THREADED])
        #: the decision pipeline, in order; each step reads and updates the alert and the Change
        self.steps: tuple[Callable[[Alert, Change, TickContext], None], ...] = (
            self._resolve, self._expire_ack, self._promote, self._escalate, self._mute, self._page)

    # ------------------------------------------------------------------ deciding

    def evaluate_due(self, now: float) -> None:
        due = self.store.due(now)
        if not due:
            return
        ctx = TickContext(now=now, silences=self.silences.active(now), active=self.store.active_alerts())
        for fp in due:
            self._guarded("evaluate", fp, lambda: self.store.transact(fp, lambda a: self.evaluate(a, ctx), now))

    def evaluate(self, alert: Alert, ctx: TickContext) -> Change:
        change = Change(alert)
        for step in self.steps:
            step(alert, change, ctx)
        change.due_at = self._next_wakeup(alert, ctx.now)
        return change

    def _resolve(self, alert: Alert, change: Change, ctx: TickContext) -> None:
        if not alert.active:
            return
        if alert.state == "pending" and ctx.now >= alert.opened_at + self.settings.group_wait_s:
            return  # past its group wait it gets paged first (even if quiet by now), and resolved on the next tick
        quiet_for = ctx.now - alert.last_seen
        requested = bool(alert.resolve_requested)
        if not requested and quiet_for < self.settings.resolve_quiet_s:
            return
        flap = self.settings.flapping
        recent_opens = [t for t in alert.opens if ctx.now - t <= flap.window_s]
        alert.opens = recent_opens
        if len(recent_opens) >= flap.threshold and quiet_for < flap.hold_quiet_s:
            alert.resolve_requested = 0.0
            if not alert.flapping:
                alert.flapping = True
                change.audit.append(AuditLine("flapping", "engine", f"opened {len(recent_opens)} times in "
                                              f"{flap.window_s:g}s: held open until quiet for {flap.hold_quiet_s:g}s"))
            return
        change.assumes_quiet = not requested
        reason = "resolved record" if requested else f"no anomaly for {quiet_for:.0f}s"
        self._close(alert, change, ctx.now, "engine", reason)

    def _expire_ack(self, alert: Alert, change: Change, ctx: TickContext) -> None:
        if alert.state != "acknowledged" or ctx.now < alert.ack_until:
            return
        alert.state, alert.round, alert.level = "firing", alert.round + 1, 0
        self._start_level(alert, "refired")
        change.audit.append(AuditLine("ack-expired", "engine", f"acknowledgement by {alert.acked_by} expired; "
                                      "still active, paging again from level 0"))
        alert.acked_by = ""

    def _promote(self, alert: Alert, change: Change, ctx: TickContext) -> None:
        if alert.state != "pending" or ctx.now < alert.opened_at + self.settings.group_wait_s:
            return
        runbook = self._runbook(alert)
        alert.runbook_id = runbook.id if runbook else ""
        alert.policy = self.router.policy_for(alert.labels, getattr(runbook, "escalation", None) if runbook else None)
        alert.state = "firing"
        self._start_level(alert, "firing")
        change.audit.append(AuditLine("firing", "engine", f"policy {alert.policy}, runbook "
                                      f"{alert.runbook_id or '(none)'}"))

    def _escalate(self, alert: Alert, change: Change, ctx: TickContext) -> None:
        if alert.state != "firing" or alert.level_paged_at is None:
            return
        policy = self._policy(alert)
        all_failed = bool(alert.level_pages) and set(alert.level_pages) <= set(alert.failed_pages)
        timed_out = ctx.now >= alert.level_paged_at + policy.levels[alert.level].timeout_s
        if not (all_failed or timed_out):
            return
        if alert.level + 1 < len(policy.levels):
            alert.level += 1
        elif policy.repeat:
            alert.level, alert.round = 0, alert.round + 1
        else:
            if all_failed and alert.level_pages:
                change.audit.append(AuditLine("undeliverable", "engine", "every page of the last level failed"))
                alert.level_pages = []  # reported once; the alert stays firing for a human to see in `alerts list`
            return
        self._start_level(alert, "escalated")
        change.audit.append(AuditLine("escalated", "engine", f"to level {alert.level} "
                                      f"({'every page failed' if all_failed else 'not acknowledged in time'})"))
        paged_now = set(policy.levels[alert.level].targets)  # these get the page itself, not a second message
        self._announce(alert, change, ctx.now, "escalated", "update", "engine", exclude=paged_now)

    def _mute(self, alert: Alert, change: Change, ctx: TickContext) -> None:
        if alert.state != "firing":
            return
        labels = alert.labels
        muted_by = next((f"silence:{s.id}" for s in ctx.silences if s.matches(labels)), "")
        if not muted_by:
            source = self.inhibitor.inhibited_by(alert, ctx.active)
            muted_by = f"inhibited:{source}" if source else ""
        if muted_by != alert.muted_by:
            change.audit.append(AuditLine("muted" if muted_by else "unmuted", "engine", muted_by or alert.muted_by))
            alert.muted_by = muted_by

    def _page(self, alert: Alert, change: Change, ctx: TickContext) -> None:
        if alert.state != "firing" or alert.level_paged_at is not None or alert.muted_by:
            return
        targets = self._policy(alert).levels[alert.level].targets
        keys = []
        for target in targets:
            key = f"{alert.fingerprint}/{alert.episode}/r{alert.round}/l{alert.level}/{target}"
            change.outbox.append(OutboxEntry(key=key, fingerprint=alert.fingerprint, episode=alert.episode,
                                             target=target, action="send", event=alert.next_page_event,
                                             actor="engine", after=alert.first_page.get(target, ""),
                                             created_at=ctx.now))
            alert.first_page.setdefault(target, key)
            keys.append(key)
        alert.level_pages, alert.failed_pages, alert.level_paged_at = keys, [], ctx.now
        change.audit.append(AuditLine("paged", "engine", f"level {alert.level}: {', '.join(targets)}"))

    # ------------------------------------------------------------------ human actions

    def acknowledge(self, fp: str, actor: str, now: float, episode: int | None = None) -> bool:
        def decide(alert: Alert) -> Change | None:
            if alert.state not in ("pending", "firing") or episode not in (None, alert.episode):
                return None
            change = Change(alert)
            alert.state, alert.acked_by = "acknowledged", actor
            alert.ack_until = now + self.settings.ack_expiry_s
            change.audit.append(AuditLine("acknowledged", actor, f"until {alert.ack_until:.0f}"))
            self._announce(alert, change, now, "acknowledged", "update", actor)
            change.due_at = self._next_wakeup(alert, now)
            return change
        return self.store.transact(fp, decide, now) is not None

    def resolve(self, fp: str, actor: str, now: float, episode: int | None = None) -> bool:
        def decide(alert: Alert) -> Change | None:
            if not alert.active or episode not in (None, alert.episode):
                return None
            change = Change(alert)
            self._close(alert, change, now, actor, "resolved by hand")
            change.due_at = None
            return change
        return self.store.transact(fp, decide, now) is not None

    def _close(self, alert: Alert, change: Change, now: float, actor: str, reason: str) -> None:
        """Resolve, and send the resolve to every target paged this episode, whatever muted the alert since."""
        alert.state, alert.resolved_at, alert.resolved_by = "resolved", now, actor
        alert.resolve_requested, alert.level_paged_at = 0.0, None
        change.audit.append(AuditLine("resolved", actor, reason))
        self._announce(alert, change, now, "resolved", "resolve", actor)

    def _announce(self, alert: Alert, change: Change, now: float, event: str, action: str, actor: str,
                  exclude: frozenset[str] | set[str] = frozenset()) -> None:
        """Queue an update/resolve of what each already-paged target got this episode."""
        alert.transitions += 1
        for target, first_key in sorted(alert.first_page.items()):
            if target in exclude:
                continue
            key = f"{alert.fingerprint}/{alert.episode}/t{alert.transitions}/{target}"
            change.outbox.append(OutboxEntry(key=key, fingerprint=alert.fingerprint, episode=alert.episode,
                                             target=target, action=action, event=event,  # type: ignore[arg-type]
                                             actor=actor, after=first_key, created_at=now))

    # ------------------------------------------------------------------ delivering

    def drain(self, now: float, max_entries: int = 500) -> int:
        """Deliver due outbox entries; returns how many were claimed."""
        done = 0
        while done < max_entries:
            batch = self.outbox.claim(now, self.instance, self.settings.retry.lease_s, CLAIM_BATCH)
            if not batch:
                break
            for entry in batch:
                self._guarded("deliver", entry.fingerprint, lambda: self.deliver(entry, now))
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
        view = AlertView.of(alert, self._runbook_link(alert))
        if alert.episode != entry.episode:  # the alert re-opened since: speak about the episode this entry belongs to
            view = replace(view, episode=entry.episode, dedup_key=episode_key(alert.fingerprint, entry.episode),
                           state="resolved" if entry.action == "resolve" else view.state)
        return Notification(idempotency_key=entry.key, event=entry.event, actor=entry.actor,  # type: ignore[arg-type]
                            alert=view, attempt=entry.attempts, page=entry.action == "send", thread=thread)

    # ------------------------------------------------------------------ helpers

    def _start_level(self, alert: Alert, event: str) -> None:
        alert.level_paged_at, alert.level_pages, alert.failed_pages = None, [], []
        alert.next_page_event = event

    def _policy(self, alert: Alert) -> PolicySettings:
        return self.settings.policies.get(alert.policy) or self.settings.policies[self.settings.default_policy]

    def _runbook(self, alert: Alert) -> Any:
        return self.runbooks.match(alert.labels) if self.runbooks is not None else None

    def _runbook_link(self, alert: Alert) -> RunbookLink | None:
        runbook = self._runbook(alert)
        if runbook is None:
            return None
        return RunbookLink(id=runbook.id, title=runbook.title, url=runbook.url(self.settings.runbook_base_url),
                           first_steps=list(runbook.first_steps))

    def _next_wakeup(self, alert: Alert, now: float) -> float | None:
        if not alert.active:
            return None
        quiet = self.settings.flapping.hold_quiet_s if alert.flapping else self.settings.resolve_quiet_s
        times = [alert.last_seen + quiet]
        if alert.state == "pending":
            times.append(alert.opened_at + self.settings.group_wait_s)
        if alert.state == "acknowledged":
            times.append(alert.ack_until)
        if alert.state == "firing" and alert.muted_by:
            times.append(now + self.settings.recheck_s)
        policy = self._policy(alert)
        can_escalate = alert.level + 1 < len(policy.levels) or policy.repeat
        if alert.state == "firing" and alert.level_paged_at is not None and can_escalate:
            times.append(alert.level_paged_at + policy.levels[alert.level].timeout_s)
        return max(min(times), now)

    def _guarded(self, what: str, fp: str, fn: Callable[[], Any]) -> None:
        """Errors in one alert never stop the others (nor the caller): log with context and count by reason."""
        try:
            fn()
        except Exception as exc:
            log.exception("alerting %s failed for alert %s", what, fp)
            self.metrics.errors.labels(reason=f"{what}:{type(exc).__name__}").inc()

