"""Deciding: what should happen to one alert now, as steps whose order is visible in one place (``STEPS``).

``Lifecycle.evaluate`` runs the steps on one alert, in this order: resolve (manual request or quiet period, unless
flapping holds it open) -> acknowledgement expiry -> pending to firing (routing) -> escalation timer -> mute
(silences, inhibition) -> page the current level. A step changes the alert and queues outbox entries in its
``Change``; nothing is sent here. The result is committed atomically with its outbox entries (``AlertStore.
transact``), so a step is taken once even with several engine instances; ``alerting.delivery`` sends the entries.
Acknowledge and resolve by hand are decisions too, made the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from inferwatch.alerting.alert import Alert, RunbookLink
from inferwatch.alerting.config import AlertingSettings, PolicySettings
from inferwatch.alerting.outbox import OutboxEntry
from inferwatch.alerting.routing import Inhibitor, Router
from inferwatch.alerting.silences import Silence, SilenceStore
from inferwatch.alerting.store import AlertStore, AuditLine, Change


class Runbooks(Protocol):
    """What the engine needs from ``alerting.runbooks.RunbookLibrary``."""

    def match(self, match_labels: dict) -> Any: ...


@dataclass
class TickContext:
    """Read once per tick and shared by every alert evaluated in it."""

    now: float
    silences: list[Silence] = field(default_factory=list)
    active: list[Alert] = field(default_factory=list)


#: one decision step: reads and updates the alert and the Change
Step = Callable[[Alert, Change, TickContext], None]
#: ``guard(what, fingerprint, fn)``: run ``fn`` so that a failure concerns one alert only (``AlertingMetrics.guard``)
Guard = Callable[[str, str, Callable[[], Any]], None]


class Lifecycle:
    """The alert lifecycle: pending -> firing (paged, escalated, muted) -> acknowledged -> resolved."""

    def __init__(self, settings: AlertingSettings, store: AlertStore, silences: SilenceStore,
                 runbooks: Runbooks | None) -> None:
        self.settings = settings
        self.store = store
        self.silences = silences
        self.runbooks = runbooks
        self.router = Router(settings)
        self.inhibitor = Inhibitor(settings)
        #: the decision pipeline, in order
        self.steps: tuple[Step, ...] = (
            self._resolve, self._expire_ack, self._promote, self._escalate, self._mute, self._page)

    def evaluate_due(self, now: float, guard: Guard) -> None:
        due = self.store.due(now)
        if not due:
            return
        ctx = TickContext(now=now, silences=self.silences.active(now), active=self.store.active_alerts())
        for fp in due:
            guard("evaluate", fp, lambda: self.store.transact(fp, lambda a: self.evaluate(a, ctx), now))

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
        runbook = self.runbook(alert)
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

    # ------------------------------------------------------------------ helpers

    def _start_level(self, alert: Alert, event: str) -> None:
        alert.level_paged_at, alert.level_pages, alert.failed_pages = None, [], []
        alert.next_page_event = event

    def _policy(self, alert: Alert) -> PolicySettings:
        return self.settings.policies.get(alert.policy) or self.settings.policies[self.settings.default_policy]

    def runbook(self, alert: Alert) -> Any:
        return self.runbooks.match(alert.labels) if self.runbooks is not None else None

    def runbook_link(self, alert: Alert) -> RunbookLink | None:
        runbook = self.runbook(alert)
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
