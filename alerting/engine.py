"""The escalation engine: decides what happens to each alert (``alerting.lifecycle``), then delivers what it decided
(``alerting.delivery``).

The two halves share only the alert store and its outbox: a decision is committed together with the outbox entries
it queues, and delivery drains them (``AlertingService.tick`` runs them in that order). Acknowledge and resolve by
hand are decisions too.
"""
from __future__ import annotations

import uuid

from inferwatch.alerting.config import AlertingSettings
from inferwatch.alerting.delivery import Delivery
from inferwatch.alerting.lifecycle import Lifecycle, Runbooks
from inferwatch.alerting.metrics import AlertingMetrics
from inferwatch.alerting.notifiers import Notifier
from inferwatch.alerting.outbox import Outbox
from inferwatch.alerting.silences import SilenceStore
from inferwatch.alerting.store import AlertStore

__all__ = ["Engine", "Runbooks"]


class Engine:
    """One engine instance: a ``Lifecycle`` that decides and a ``Delivery`` that sends, sharing the store."""

    def __init__(self, settings: AlertingSettings, store: AlertStore, outbox: Outbox, silences: SilenceStore,
                 notifiers: dict[str, Notifier], runbooks: Runbooks | None, metrics: AlertingMetrics,
                 instance: str | None = None) -> None:
        self.metrics = metrics
        self.instance = instance or f"engine-{uuid.uuid4().hex[:8]}"
        self.lifecycle = Lifecycle(settings, store, silences, runbooks)
        self.delivery = Delivery(settings, store, outbox, notifiers, metrics, self.instance,
                                 self.lifecycle.runbook_link)

    @property
    def notifiers(self) -> dict[str, Notifier]:
        return self.delivery.notifiers

    def evaluate_due(self, now: float) -> None:
        self.lifecycle.evaluate_due(now, self.metrics.guard)

    def drain(self, now: float, max_entries: int = 500) -> int:
        """Deliver due outbox entries; returns how many were claimed."""
        return self.delivery.drain(now, self.metrics.guard, max_entries)

    def acknowledge(self, fp: str, actor: str, now: float, episode: int | None = None) -> bool:
        return self.lifecycle.acknowledge(fp, actor, now, episode)

    def resolve(self, fp: str, actor: str, now: float, episode: int | None = None) -> bool:
        return self.lifecycle.resolve(fp, actor, now, episode)
