"""Generic webhook: posts Alertmanager's webhook JSON (version 4), so receivers written for Alertmanager work unchanged.

One POST per message: the first page and each later transition (escalated, refired as ``firing``; resolved as
``resolved``); an acknowledgement is not posted, as Alertmanager has none to tell. 2xx is delivered; 429 and 5xx are
retryable (the engine retries, honouring Retry-After), any other status is permanent. Every request carries the
message's idempotency key in an ``Idempotency-Key`` header: a webhook cannot be asked what it already got, so a post
repeated after a crash (the engine died between the receiver's 2xx and recording it) carries the same key and the
same Alertmanager ``fingerprint``, for the receiver to drop. The URL (it may hold a token) never appears in errors.
"""
from __future__ import annotations

import time
from typing import Any

import httpx

from inferwatch.alerting import templates
from inferwatch.alerting.config import AlertingSettings, TargetSettings
from inferwatch.alerting.notifiers.base import Notification, NotifierError, parse_retry_after, retryable_status

USER_AGENT = "inferwatch-webhook/1"


class WebhookNotifier:
    def __init__(self, name: str, url: str, client: httpx.Client,
                 links: templates.PageLinks = templates.PageLinks()) -> None:
        self.name = name
        self.url = url
        self.client = client
        self.links = links

    @classmethod
    def from_settings(cls, name: str, target: TargetSettings, settings: AlertingSettings) -> "WebhookNotifier":
        hook = settings.webhook
        client = httpx.Client(timeout=hook.timeout_s, verify=hook.ca_file or True, follow_redirects=False,
                              headers={"User-Agent": USER_AGENT})
        return cls(name, target.url, client, templates.PageLinks.of(settings))

    def send(self, notification: Notification) -> dict[str, Any]:
        self._post(notification)
        return {"webhook": self.name}

    def update(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        if notification.event != "acknowledged":
            self._post(notification)
        return ref

    resolve = update

    def _post(self, notification: Notification) -> None:
        body = templates.alertmanager_webhook(notification.alert, notification.event, self.name, self.links,
                                              now=time.time())
        try:
            response = self.client.post(self.url, json=body, headers={"Idempotency-Key": notification.idempotency_key})
        except httpx.HTTPError as exc:
            raise NotifierError(f"webhook {self.name}: {type(exc).__name__}", retryable=True) from None
        if not response.is_success:
            status = response.status_code
            raise NotifierError(f"webhook {self.name}: HTTP {status}", retryable=retryable_status(status),
                                retry_after=parse_retry_after(response.headers.get("Retry-After")))
