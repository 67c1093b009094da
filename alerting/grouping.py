"""Grouping: related alerts (same ``grouping.by`` label values, close in time) share one Slack thread.

The first alert of a group paged to a target that has threads (Slack) is posted to the channel and *opens* the group
for that target; a related alert whose first page to the target comes while the group is open is posted in that
message's thread instead of as a new message. A group is open while its first message is younger than
``grouping.window_s``, was not given up on (a failed delivery), and its alert is still unresolved in the episode it
was posted for: a new problem is never tucked under a message that says "resolved". A related alert more severe
than the group's first one is broadcast to the channel as well (Slack ``reply_broadcast``), so a critical page is
never hidden in the thread of a warning.

Where a page goes is decided once, atomically, at its first delivery attempt, and kept on its outbox entry: a retry
(after a crash or a timeout) posts to the same place, where the notifier finds what the earlier attempt posted, and
two engine instances delivering two alerts of one group at once cannot both open it. A page waits for its group's
first message to be delivered, at most ``grouping.max_wait_s``; then it leaves the group and goes to the channel.

>>> group_of({"service.name": "checkout", "kind": "rate"}, ["service.name"])
'service.name=checkout'
>>> group_of({"kind": "rate"}, ["service.name"]) is None
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Collection, Mapping

from inferwatch.alerting.alert import Alert
from inferwatch.alerting.config import GroupingSettings
from inferwatch.alerting.outbox import Outbox, OutboxEntry
from inferwatch.alerting.store import AlertStore
from inferwatch.detectors.contract import DEFAULT_SEVERITY, SEVERITY_RANKS_JSON, severity_rank  # the record contract (leaf)

# KEYS: the entry being delivered, the group; returns {parent entry key or '', '1' to broadcast else '0'}
PLACE_LUA = """
local entry, group = KEYS[1], KEYS[2]
local key, now, window, fp, episode, rank, alert_prefix, outbox_prefix, ttl =
  ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9]
local ranks, default_rank = cjson.decode(ARGV[10]), tonumber(ARGV[11])  -- the severity scale (detectors.contract)
local decided = redis.call('HMGET', entry, 'thread', 'broadcast')
if decided[1] then return {decided[1], decided[2]} end
local g = redis.call('HMGET', group, 'key', 'at', 'fingerprint', 'episode')
if g[1] and g[1] ~= key and now - tonumber(g[2]) <= window then
  local parent = redis.call('HMGET', alert_prefix .. g[3], 'state', 'episode', 'severity')
  local status = redis.call('HGET', outbox_prefix .. g[1], 'status')
  if parent[1] and parent[1] ~= 'resolved' and parent[2] == g[4] and status
     and status ~= 'failed' and status ~= 'skipped' then
    local broadcast = rank > (ranks[parent[3]] or default_rank) and '1' or '0'
    redis.call('HSET', entry, 'thread', g[1], 'broadcast', broadcast)
    return {g[1], broadcast}
  end
end
redis.call('DEL', group)
redis.call('HSET', group, 'key', key, 'at', ARGV[2], 'fingerprint', fp, 'episode', episode)
redis.call('EXPIRE', group, ttl)
redis.call('HSET', entry, 'thread', '', 'broadcast', '0')
return {'', '0'}
"""


def group_of(labels: Mapping[str, Any], by: list[str]) -> str | None:
    """The group an alert belongs to (``k=v`` of the ``by`` labels), or None if it lacks one of them."""
    if any(labels.get(k) in (None, "") for k in by):
        return None
    return ",".join(f"{k}={labels[k]}" for k in by)


@dataclass(frozen=True)
class Placement:
    """A first page goes into the thread of ``parent`` (the idempotency key of the group's first message)."""

    parent: str
    broadcast: bool


class ThreadGroups:
    """The open groups, per threaded target (``P group:<target>:<group>``), and each first page's place in them."""

    def __init__(self, store: AlertStore, outbox: Outbox, settings: GroupingSettings,
                 threaded_targets: Collection[str]) -> None:
        self.settings = settings
        self.threaded_targets = frozenset(threaded_targets)
        self.store = store
        self.outbox = outbox
        self._place = store.redis.register_script(PLACE_LUA)

    def place(self, entry: OutboxEntry, alert: Alert, now: float) -> Placement | None:
        """Where the first page ``entry`` goes: under another alert's message, or None for the channel itself."""
        if entry.target not in self.threaded_targets or self.settings.window_s <= 0:
            return None
        group = group_of(alert.labels, self.settings.by)
        if group is None:
            return None
        parent, broadcast = self._place(
            keys=[self.outbox.prefix + entry.key, self.store.key("group", f"{entry.target}:{group}")],
            args=[entry.key, repr(now), repr(self.settings.window_s), entry.fingerprint, entry.episode,
                  severity_rank(alert.severity), self.store.per_alert_prefix("alert"), self.outbox.prefix,
                  max(1, math.ceil(self.settings.window_s)), SEVERITY_RANKS_JSON, severity_rank(DEFAULT_SEVERITY)])
        parent = parent.decode() if isinstance(parent, bytes) else parent
        return Placement(parent, broadcast in (b"1", "1")) if parent else None

    def leave(self, entry: OutboxEntry) -> None:
        """Post ``entry`` to the channel after all (its group's first message is late), now and on every retry."""
        self.store.redis.hset(self.outbox.prefix + entry.key, mapping={"thread": "", "broadcast": "0"})
