"""Console/outbox notifier: prints each message and appends it as a JSON line to the outbox file.

It serves when no Slack/PagerDuty credentials are configured (the demo) and for targets in dry-run mode, so the whole
pipeline runs and leaves a machine-readable trail. A retried send finds its own earlier line and does not append twice.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from inferwatch.alerting import templates
from inferwatch.alerting.notifiers.base import Notification, NotifierError
from inferwatch.alerting.redact import redact


class ConsoleNotifier:
    def __init__(self, target: str, outbox_path: str | Path, stream: TextIO | None = None) -> None:
        self.target = target
        self.path = Path(outbox_path)
        self.stream = stream

    def send(self, notification: Notification) -> dict[str, Any]:
        if notification.attempt > 1 and self._already_written(notification.idempotency_key):
            return {"outbox": str(self.path)}
        return self._write("send", notification)

    def update(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        return self._write("update", notification)

    def resolve(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        return self._write("resolve", notification)

    def _write(self, action: str, n: Notification) -> dict[str, Any]:
        view = n.alert
        # everything record-derived is redacted (alerting.redact), as for Slack and PagerDuty
        line = {"time": time.time(), "target": self.target, "action": action, "event": n.event,
                "actor": redact(n.actor), "idempotency_key": n.idempotency_key, "fingerprint": view.fingerprint,
                "state": view.state, "severity": view.severity, "kind": redact(view.kind),
                "signal": redact(view.signal), "labels": {redact(k): redact(v) for k, v in view.labels.items()},
                "summary": templates.summary(view), "runbook": view.runbook.url if view.runbook else None}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, default=str) + "\n")
        except OSError as exc:
            raise NotifierError(f"outbox {self.path}: {exc.strerror}", retryable=True) from None
        print(f"[inferwatch alert] {self.target} {action} {n.event}: {line['summary']}", file=self.stream or sys.stdout,
              flush=True)
        return {"outbox": str(self.path)}

    def _already_written(self, key: str) -> bool:
        try:
            with self.path.open(encoding="utf-8") as fh:
                return any(json.loads(line).get("idempotency_key") == key and json.loads(line)["action"] == "send"
                           for line in fh if line.strip())
        except OSError:
            return False
