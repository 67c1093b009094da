"""Slack through slack_sdk's WebClient: one message per alert episode, updated in place, with a thread of transitions.

The SDK's own retries are off (the engine retries with backoff and a budget). A retried ``send`` first looks in the
channel for a message carrying its idempotency key in Slack message metadata, so a crash after Slack accepted the post
but before the engine recorded it does not post twice.
"""
from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from alerting import templates
from alerting.config import AlertingSettings, TargetSettings
from alerting.notifiers.base import Notification, NotifierError, parse_retry_after, retryable_status

METADATA_EVENT = "inferwatch_alert"
#: how far back a retried send looks for its own earlier post (Slack's page size limit is 1000)
HISTORY_LIMIT = 200
#: Slack errors that mean the request itself is wrong: retrying cannot help
PERMANENT_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "channel_not_found",
                    "not_in_channel", "is_archived", "invalid_blocks", "msg_too_long", "missing_scope"}


class SlackNotifier:
    def __init__(self, client: WebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    @classmethod
    def from_settings(cls, target: TargetSettings, settings: AlertingSettings) -> "SlackNotifier":
        client = WebClient(token=settings.slack.token, base_url=settings.slack.api_url,
                           timeout=int(settings.slack.timeout_s), retry_handlers=[])
        return cls(client, target.channel)

    def send(self, notification: Notification) -> dict[str, Any]:
        if notification.attempt > 1:
            earlier = self._find_earlier_post(notification.idempotency_key)
            if earlier:
                return earlier
        view = notification.alert
        resp = self._call(self.client.chat_postMessage, channel=self.channel, text=templates.slack_text(view),
                          blocks=templates.slack_blocks(view),
                          metadata={"event_type": METADATA_EVENT,
                                    "event_payload": {"idempotency_key": notification.idempotency_key}})
        return {"channel": resp["channel"], "ts": resp["ts"]}

    def update(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        view = notification.alert
        self._call(self.client.chat_update, channel=ref["channel"], ts=ref["ts"], text=templates.slack_text(view),
                   blocks=templates.slack_blocks(view))
        self._call(self.client.chat_postMessage, channel=ref["channel"], thread_ts=ref["ts"],
                   text=templates.thread_reply(notification.event, notification.actor, view))
        return ref

    resolve = update

    def _find_earlier_post(self, key: str) -> dict[str, Any] | None:
        resp = self._call(self.client.conversations_history, channel=self.channel, limit=HISTORY_LIMIT,
                          include_all_metadata=True)
        for message in resp.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("idempotency_key") == key:
                return {"channel": resp.get("channel") or self.channel, "ts": message["ts"]}
        return None

    @staticmethod
    def _call(method, **kwargs) -> Any:
        """One API call; every failure becomes a NotifierError (the token never appears in the reason)."""
        try:
            return method(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            reason = f"slack {method.__name__}: HTTP {status} {error or ''}".strip()
            retryable = retryable_status(status) or (status == 200 and error not in PERMANENT_ERRORS)
            raise NotifierError(reason, retryable=retryable,
                                retry_after=parse_retry_after(exc.response.headers.get("Retry-After"))) from None
        except (SlackClientError, OSError) as exc:
            raise NotifierError(f"slack {method.__name__}: {type(exc).__name__}", retryable=True) from None
