"""PagerDuty through the ``pagerduty`` package's Events API v2 client (pdpyras, its predecessor, is deprecated).

The dedup_key is the alert episode's key, so a re-sent trigger (after a crash or a timeout) folds into the incident
it already opened, and acknowledge/resolve always use the same routing key as the trigger. The client's own retry is
cut down to one quick retry of 429 (its default retries 429 forever): backoff and budget are the engine's job.
"""
from __future__ import annotations

import ssl
from typing import Any

import pagerduty

from inferwatch.alerting import templates
from inferwatch.alerting.config import AlertingSettings, TargetSettings
from inferwatch.alerting.notifiers.base import Notification, NotifierError, parse_retry_after, retryable_status

#: seconds the client sleeps before its single in-client retry of a 429
CLIENT_RETRY_SLEEP_S = 0.05


class PagerDutyNotifier:
    def __init__(self, client: pagerduty.EventsApiV2Client,
                 links: templates.PageLinks = templates.PageLinks()) -> None:
        self.client = client
        self.links = links

    @classmethod
    def from_settings(cls, target: TargetSettings, settings: AlertingSettings) -> "PagerDutyNotifier":
        pd = settings.pagerduty
        http_kwargs: dict[str, Any] = {"verify": ssl.create_default_context(cafile=pd.ca_file)} if pd.ca_file else {}
        client = pagerduty.EventsApiV2Client(target.routing_key or pd.routing_key, base_url=pd.events_url,
                                             **http_kwargs)
        client.retry = {429: 1}
        client.sleep_timer = CLIENT_RETRY_SLEEP_S
        client.max_network_attempts = 1
        client.timeout = pd.timeout_s
        return cls(client, templates.PageLinks.of(settings))

    def send(self, notification: Notification) -> dict[str, Any]:
        view = notification.alert
        key = self._call(self.client.send_event, "trigger", dedup_key=view.dedup_key,
                         **templates.pagerduty_trigger(view, self.links))
        return {"dedup_key": key}

    def update(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        if notification.event == "acknowledged":
            self._call(self.client.acknowledge, ref["dedup_key"])
        elif notification.event == "refired":
            self._call(self.client.send_event, "trigger", dedup_key=ref["dedup_key"],
                       **templates.pagerduty_trigger(notification.alert, self.links))
        # "escalated" concerns other targets: PagerDuty runs its own escalation for this incident
        return ref

    def resolve(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        self._call(self.client.resolve, ref["dedup_key"])
        return ref

    @staticmethod
    def _call(method, *args, **kwargs) -> Any:
        try:
            return method(*args, **kwargs)
        except pagerduty.Error as exc:
            response = exc.response
            if response is None:
                raise NotifierError(f"pagerduty {_name(method, args)}: network error", retryable=True) from None
            status = response.status_code
            raise NotifierError(f"pagerduty {_name(method, args)}: HTTP {status}", retryable=retryable_status(status),
                                retry_after=parse_retry_after(response.headers.get("Retry-After"))) from None
        except OSError as exc:
            raise NotifierError(f"pagerduty {_name(method, args)}: {type(exc).__name__}", retryable=True) from None


def _name(method, args: tuple) -> str:
    """What a failed call did, for the error: ``trigger``, ``acknowledge``, ``resolve``."""
    return args[0] if method.__name__ == "send_event" and args else method.__name__
