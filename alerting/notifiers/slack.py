"""Slack through slack_sdk's WebClient: one message per alert episode, updated in place, with a thread of transitions.

The SDK's own retries are off (the engine retries with backoff and a budget). Every message we post (the alert
message and each thread reply) carries its idempotency key in Slack message metadata, and a retried post first looks
for it (in the channel's latest messages, or in the thread it goes to), so a crash or timeout after Slack accepted a
post but before the engine recorded it does not post twice.

A first page may go into a related alert's thread (``Notification.thread``, see alerting.grouping); its reference
then keeps that thread, so its own transitions are replied there too, naming the alert. A target with a
``user_group`` mentions it on pages (never on acknowledge/resolve updates); record text can never mention anyone.
"""
from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from inferwatch.alerting import templates
from inferwatch.alerting.config import AlertingSettings, TargetSettings
from inferwatch.alerting.notifiers.base import Notification, NotifierError, parse_retry_after, retryable_status

METADATA_EVENT = "inferwatch_alert"
#: messages per page when a retried post looks for its own earlier attempt (Slack's page size limit is 1000)
LOOKUP_PAGE_SIZE = 200
#: pages looked at: the channel's newest messages, or a thread from its start
LOOKUP_PAGES = 5
#: Slack errors that mean the request itself is wrong: retrying cannot help
PERMANENT_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "channel_not_found",
                    "not_in_channel", "is_archived", "invalid_blocks", "msg_too_long", "missing_scope"}


class SlackNotifier:
    def __init__(self, client: WebClient, channel: str, user_group: str = "",
                 lookup_page_size: int = LOOKUP_PAGE_SIZE, links: templates.PageLinks = templates.PageLinks()) -> None:
        self.client = client
        self.links = links
        self.channel = channel
        self.mentions = templates.mention(user_group) if user_group else ""
        self.lookup_page_size = lookup_page_size

    @classmethod
    def from_settings(cls, target: TargetSettings, settings: AlertingSettings) -> "SlackNotifier":
        client = WebClient(token=settings.slack.token, base_url=settings.slack.api_url,
                           timeout=int(settings.slack.timeout_s), retry_handlers=[])
        return cls(client, target.channel, target.user_group, links=templates.PageLinks.of(settings))

    def send(self, notification: Notification) -> dict[str, Any]:
        view, thread = notification.alert, notification.thread
        where: dict[str, Any] = {"channel": self.channel}
        if thread is not None:
            where = {"channel": thread.ref["channel"], "thread_ts": thread.ref.get("thread_ts") or thread.ref["ts"],
                     "reply_broadcast": thread.broadcast or None}
        posted = self._post_once(notification, **where, text=templates.slack_text(view, self.mentions),
                                 blocks=templates.slack_blocks(view, self.mentions, self.links))
        return {**posted, "thread_ts": where["thread_ts"]} if thread is not None else posted

    def update(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        view = notification.alert
        self._call(self.client.chat_update, channel=ref["channel"], ts=ref["ts"],
                   text=templates.slack_text(view, self.mentions), blocks=templates.slack_blocks(view, self.mentions, self.links))
        reply = templates.thread_reply(notification.event, notification.actor, view,
                                       mentions=self.mentions if notification.page else "",
                                       grouped="thread_ts" in ref)
        self._post_once(notification, channel=ref["channel"], thread_ts=ref.get("thread_ts") or ref["ts"],
                        text=reply)
        return ref

    resolve = update

    def _post_once(self, notification: Notification, **message: Any) -> dict[str, Any]:
        """chat.postMessage, unless an earlier attempt of this very message got through (found by its key)."""
        key = notification.idempotency_key
        if notification.attempt > 1:
            earlier = self._find_posted(key, message["channel"], message.get("thread_ts"))
            if earlier:
                return earlier
        resp = self._call(self.client.chat_postMessage, **message,
                          metadata={"event_type": METADATA_EVENT, "event_payload": {"idempotency_key": key}})
        return {"channel": resp["channel"], "ts": resp["ts"]}

    def _find_posted(self, key: str, channel: str, thread_ts: str | None) -> dict[str, Any] | None:
        """The message carrying ``key`` in its metadata: among the thread's replies, else the channel's newest."""
        method, where = ((self.client.conversations_replies, {"ts": thread_ts}) if thread_ts
                         else (self.client.conversations_history, {}))
        cursor = None
        for _ in range(LOOKUP_PAGES):
            resp = self._call(method, channel=channel, limit=self.lookup_page_size, include_all_metadata=True,
                              cursor=cursor, **where)
            for message in resp.get("messages", []):
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("idempotency_key") == key:
                    return {"channel": channel, "ts": message["ts"]}
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
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
