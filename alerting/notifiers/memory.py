"""In-memory notifier: records every call and can be told to fail; tests wire the real engine to it.

>>> from inferwatch.alerting.notifiers.base import NotifierError
>>> n = InMemoryNotifier(failures=[NotifierError("HTTP 503", retryable=True)])
>>> n.failures[0].retryable, n.calls
(True, [])
"""
from __future__ import annotations

import threading
from typing import Any

from inferwatch.alerting.notifiers.base import Notification, NotifierError


class InMemoryNotifier:
    def __init__(self, failures: list[NotifierError] | None = None) -> None:
        #: raised one by one by the next calls, before any call succeeds
        self.failures = list(failures or [])
        self.calls: list[tuple[str, Notification]] = []
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> dict[str, Any]:
        return self._record("send", notification, {"id": notification.idempotency_key})

    def update(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        return self._record("update", notification, ref)

    def resolve(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        return self._record("resolve", notification, ref)

    def _record(self, action: str, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self.failures:
                raise self.failures.pop(0)
            self.calls.append((action, notification))
            return ref

    def actions(self) -> list[tuple[str, str]]:
        """(call, event) pairs in order, e.g. ``[("send", "firing"), ("resolve", "resolved")]``."""
        return [(action, n.event) for action, n in self.calls]
