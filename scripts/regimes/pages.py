"""Pages, not records: anomaly records driven through the real escalation engine in stream time, pages counted.

``Escalation`` wires ``alerting.service.AlertingService`` (default or given alerting settings, the repository's
runbooks) to one in-memory notifier per target, with its clock in the stream's time (the collector's clock): the
harness calls ``ingest`` for each record as it comes out of the detectors and ``advance`` as that clock moves, which
ticks the engine every ``TICK_S``, so ack timeouts, escalation to PagerDuty and auto-resolve behave as they would live.
Ticks are skipped once no alert can still be active (``idle_after_s`` past the last record): nothing can be due
then, and at 0.05 calls/s that saves hours of empty Redis round trips.

A *page* is what wakes or distracts a person: a new top-level Slack post (a first page not posted into a related
alert's thread) or a new PagerDuty incident (a trigger with a dedup key not seen before). Thread replies and
updates are counted apart, as ``slack_thread_replies``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import redis

from inferwatch.alerting.config import AlertingSettings
from inferwatch.alerting.notifiers import InMemoryNotifier
from inferwatch.alerting.service import AlertingService, load_runbooks

#: event-time seconds between engine ticks
TICK_S = 15.0


@dataclass(frozen=True)
class Page:
    time_s: float  # stream time (unix seconds, the collector's clock) of the tick that delivered it
    target: str  # slack | pagerduty (the target's type)
    fingerprint: str
    signal: str
    labels: dict
    top_level: bool  # Slack: posted to the channel, not in a thread; PagerDuty: a new incident
    #: stream time the alert's episode opened: a page is judged by the problem that opened it (a PagerDuty page
    #: after the ack timeout belongs to the incident that opened the alert ten minutes before)
    opened_s: float = 0.0
    #: the latest record's contributors (who is behind it: tenants, routes), to match tenant incidents
    contributors: dict = field(default_factory=dict)


@dataclass
class Escalation:
    settings: AlertingSettings
    redis_url: str
    key_prefix: str
    pages: list[Page] = field(default_factory=list)
    thread_replies: int = 0

    def __post_init__(self) -> None:
        import dataclasses
        self.settings = dataclasses.replace(self.settings, key_prefix=self.key_prefix)
        self.client = redis.Redis.from_url(self.redis_url)
        self.notifiers = {name: InMemoryNotifier() for name in self.settings.targets}
        self.types = {name: target.type for name, target in self.settings.targets.items()}
        self._seen_calls = {name: 0 for name in self.notifiers}
        self._contributors: dict[str, dict] = {}
        self._dedup_keys: set[str] = set()
        self.now = 0.0
        self._next_tick: float | None = None
        self._last_record = -float("inf")
        policies = self.settings.policies.values()
        #: after this long without a record every alert has resolved (quiet period or flapping hold) and every
        #: escalation timer has run out, so a tick can change nothing
        self.idle_after_s = (self.settings.group_wait_s + self.settings.resolve_quiet_s
                             + self.settings.flapping.hold_quiet_s
                             + max(sum(level.timeout_s for level in p.levels) for p in policies) + 4 * TICK_S)
        runbooks = load_runbooks(self.settings.runbooks_dir)
        self.service = AlertingService(self.settings, self.client, self.notifiers, runbooks=runbooks,
                                       clock=lambda: self.now)

    def ingest(self, record: dict, now_s: float) -> None:
        self.advance(now_s)
        self._last_record = self.now
        if record.get("contributors"):
            self._contributors[record.get("fingerprint", "")] = record["contributors"]
        self.service.ingest(record, now=self.now)

    def advance(self, now_s: float) -> None:
        """Move the engine's clock to ``now_s`` (stream time), ticking every ``TICK_S`` on the way."""
        if self._next_tick is None:
            self._next_tick = now_s
        if now_s - self._last_record > self.idle_after_s and self._next_tick <= now_s:
            self._next_tick += (now_s - self._next_tick) // TICK_S * TICK_S  # idle: skip, staying on the grid
        while self._next_tick <= now_s:
            self.now = self._next_tick
            self.service.tick(now=self.now)
            self._collect()
            self._next_tick += TICK_S
        self.now = max(self.now, now_s)

    def _collect(self) -> None:
        for name, notifier in self.notifiers.items():
            calls = notifier.calls
            for action, notification in calls[self._seen_calls[name]:]:
                if action != "send":
                    continue
                alert = notification.alert
                kind = self.types[name]
                if kind == "pagerduty":
                    top = alert.dedup_key not in self._dedup_keys
                    self._dedup_keys.add(alert.dedup_key)
                else:
                    top = notification.thread is None
                    self.thread_replies += not top
                self.pages.append(Page(self.now, kind, alert.fingerprint, alert.signal, dict(alert.labels), top,
                                       alert.opened_at, self._contributors.get(alert.fingerprint, {})))
            self._seen_calls[name] = len(calls)

    def top_pages(self) -> list[Page]:
        return [p for p in self.pages if p.top_level]

    def close(self) -> None:
        """Delete this run's keys (the harness's "flush between cells"; other runs may share the server)."""
        keys = list(self.client.scan_iter(match=self.key_prefix + "*", count=1000))
        for i in range(0, len(keys), 1000):
            self.client.unlink(*keys[i:i + 1000])
        self.service.close()
