"""Notifiers: one module per channel, registered in ``NOTIFIERS`` (target ``type`` -> factory).

``build_notifier`` picks the console/outbox notifier for dry-run targets and for channels whose credentials are not
configured, so a fresh checkout pages to the console instead of failing.
"""
from __future__ import annotations

import logging
from typing import Callable

from inferwatch.alerting.config import AlertingSettings, TargetSettings
from inferwatch.alerting.notifiers.base import Notification, Notifier, NotifierError, Thread
from inferwatch.alerting.notifiers.console import ConsoleNotifier
from inferwatch.alerting.notifiers.email import EmailNotifier
from inferwatch.alerting.notifiers.memory import InMemoryNotifier
from inferwatch.alerting.notifiers.pagerduty_events import PagerDutyNotifier
from inferwatch.alerting.notifiers.slack import SlackNotifier
from inferwatch.alerting.notifiers.webhook import WebhookNotifier

__all__ = ["NOTIFIERS", "THREADED", "Notification", "Notifier", "NotifierError", "Thread", "ConsoleNotifier",
           "InMemoryNotifier", "PagerDutyNotifier", "SlackNotifier", "EmailNotifier", "WebhookNotifier",
           "build_notifier", "build_notifiers"]

log = logging.getLogger(__name__)

#: target type -> factory(target name, target settings, alerting settings)
NOTIFIERS: dict[str, Callable[[str, TargetSettings, AlertingSettings], Notifier]] = {
    "slack": lambda name, t, s: SlackNotifier.from_settings(t, s),
    "pagerduty": lambda name, t, s: PagerDutyNotifier.from_settings(t, s),
    "console": lambda name, t, s: ConsoleNotifier(name, s.outbox_path),
    "email": lambda name, t, s: EmailNotifier.from_settings(t, s),
    "webhook": WebhookNotifier.from_settings,
}

#: target types whose messages have threads: related alerts can share one (alerting.grouping)
THREADED: frozenset[str] = frozenset({"slack"})

#: what a target type needs before it can talk to its provider
_HAS_CREDENTIALS: dict[str, Callable[[TargetSettings, AlertingSettings], bool]] = {
    "slack": lambda t, s: bool(s.slack.token and t.channel),
    "pagerduty": lambda t, s: bool(t.routing_key or s.pagerduty.routing_key),
    "email": lambda t, s: bool(s.email.host),
}


def build_notifier(name: str, target: TargetSettings, settings: AlertingSettings) -> Notifier:
    if target.dry_run:
        return ConsoleNotifier(f"{name} (dry-run)", settings.outbox_path)
    if not _HAS_CREDENTIALS.get(target.type, lambda t, s: True)(target, settings):
        log.info("target %s: no %s credentials configured, using the console/outbox notifier", name, target.type)
        return ConsoleNotifier(name, settings.outbox_path)
    return NOTIFIERS[target.type](name, target, settings)


def build_notifiers(settings: AlertingSettings) -> dict[str, Notifier]:
    return {name: build_notifier(name, target, settings) for name, target in settings.targets.items()}
