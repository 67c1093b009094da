"""The crash-safe outbox: every message the engine decides to send, keyed by its idempotency key.

An entry is written in the same transaction as the decision that caused it, so a decision is never recorded without
its messages nor a message queued for a decision that was rolled back. Delivery *claims* an entry atomically with a
lease: a second engine instance cannot claim it while the lease runs, and an instance that crashes mid-send leaves
an expired lease that the next tick re-claims and re-sends *with the same idempotency key* (PagerDuty folds it into
the same incident by dedup_key; the Slack notifier looks for its earlier post first).

Entry states: queued -> sending -> sent | failed | skipped; a retryable failure goes back to queued with a later time.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import redis

Action = Literal["send", "update", "resolve"]

ENQUEUE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[1])))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

CLAIM_LUA = """
local due, now, lease_until, owner, limit, prefix = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local claimed = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, limit)) do
  local h = prefix .. k
  local status = redis.call('HGET', h, 'status')
  -- a 'sending' entry is only due here once its lease ran out: its claimer died
  if status == 'queued' or status == 'sending' then
    local attempts = redis.call('HINCRBY', h, 'attempts', 1)
    redis.call('HSET', h, 'status', 'sending', 'owner', owner)
    if attempts == 1 then redis.call('HSET', h, 'first_attempt_at', now) end
    redis.call('ZADD', due, lease_until, k)
    table.insert(claimed, k)
  else
    redis.call('ZREM', due, k)
  end
end
return claimed
"""

# finish (sent/failed/skipped) or requeue (queued) an entry, but only if this owner still holds the claim
SETTLE_LUA = """
local h, due, audit = KEYS[1], KEYS[2], KEYS[3]
local owner, status, next_at, key, field, value, now, audit_line, audit_max, refund, retention =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
if redis.call('HGET', h, 'status') ~= 'sending' or redis.call('HGET', h, 'owner') ~= owner then return 0 end
redis.call('HSET', h, 'status', status, field, value, 'settled_at', now)
if refund == '1' then redis.call('HINCRBY', h, 'attempts', -1) end
if status == 'queued' then
  redis.call('ZADD', due, next_at, key)
else
  redis.call('ZREM', due, key)
  redis.call('EXPIRE', h, retention)
end
if audit_line ~= '' then
  redis.call('RPUSH', audit, audit_line)
  redis.call('LTRIM', audit, -tonumber(audit_max), -1)
end
return 1
"""


@dataclass
class OutboxEntry:
    key: str
    fingerprint: str
    episode: int
    target: str
    action: Action
    #: the transition announced (firing, escalated, acknowledged, refired, resolved)
    event: str
    actor: str
    #: idempotency key of this target's first page in the episode: its provider reference is what we update
    after: str = ""
    status: str = "queued"
    attempts: int = 0
    created_at: float = 0.0
    first_attempt_at: float = 0.0
    error: str = ""
    ref: dict[str, Any] = field(default_factory=dict)

    FIELDS = ("key", "fingerprint", "episode", "target", "action", "event", "actor", "after", "created_at")

    @classmethod
    def from_redis(cls, raw: dict[str, str]) -> "OutboxEntry":
        return cls(key=raw["key"], fingerprint=raw["fingerprint"], episode=int(raw["episode"]), target=raw["target"],
                   action=raw["action"], event=raw["event"], actor=raw["actor"],  # type: ignore[arg-type]
                   after=raw.get("after", ""), status=raw.get("status", "queued"),
                   attempts=int(raw.get("attempts", 0)), created_at=float(raw.get("created_at", 0)),
                   first_attempt_at=float(raw.get("first_attempt_at", 0)), error=raw.get("error", ""),
                   ref=json.loads(raw.get("ref") or "{}"))


class Outbox:
    def __init__(self, client: redis.Redis, prefix: str, audit_max: int = 1000,
                 retention_s: float = 30 * 86400.0) -> None:
        self.redis = client
        self.retention_s = retention_s
        self.prefix = f"{prefix}outbox:"
        self.due_key = f"{prefix}outbox-due"
        self.audit_prefix = f"{prefix}audit:"
        self.audit_max = audit_max
        self._enqueue = client.register_script(ENQUEUE_LUA)
        self._claim = client.register_script(CLAIM_LUA)
        self._settle = client.register_script(SETTLE_LUA)

    def enqueue(self, pipe: redis.client.Pipeline, entry: OutboxEntry) -> None:
        """Queue inside the caller's MULTI; an entry whose key exists already is left exactly as it is."""
        flat: list[str] = ["status", "queued", "attempts", "0"]
        for name in OutboxEntry.FIELDS:
            flat += [name, str(getattr(entry, name))]
        self._enqueue(keys=[self.prefix + entry.key, self.due_key],
                      args=[json.dumps(flat), repr(entry.created_at), entry.key], client=pipe)

    def claim(self, now: float, owner: str, lease_s: float, limit: int = 50) -> list[OutboxEntry]:
        keys = self._claim(keys=[self.due_key], args=[repr(now), repr(now + lease_s), owner, limit, self.prefix])
        return [e for e in (self.get(k.decode() if isinstance(k, bytes) else k) for k in keys) if e is not None]

    def get(self, key: str) -> OutboxEntry | None:
        raw = self.redis.hgetall(self.prefix + key)
        return OutboxEntry.from_redis({k.decode(): v.decode() for k, v in raw.items()}) if raw else None

    def entries(self, fingerprint: str | None = None) -> list[OutboxEntry]:
        """Every entry (optionally of one alert); for the CLI and tests, not for the hot path."""
        pattern = self.prefix + (re.sub(r"([*?\[\]\\])", r"\\\1", fingerprint) + "/*" if fingerprint else "*")
        found = [self.get(k.decode()[len(self.prefix):]) for k in self.redis.scan_iter(match=pattern)]
        return sorted((e for e in found if e and (fingerprint is None or e.fingerprint == fingerprint)),
                      key=lambda e: (e.created_at, e.key))

    def settle(self, entry: OutboxEntry, owner: str, status: str, now: float, *, ref: dict | None = None,
               error: str = "", next_at: float = 0.0, refund: bool = False, audit: dict | None = None) -> bool:
        """Record the outcome of a claimed delivery; False if the claim was lost (lease expired, re-claimed)."""
        field_name, value = ("ref", json.dumps(ref)) if ref is not None else ("error", error)
        line = json.dumps({"t": now, **audit}) if audit else ""
        done = self._settle(keys=[self.prefix + entry.key, self.due_key, self.audit_prefix + entry.fingerprint],
                            args=[owner, status, repr(next_at), entry.key, field_name, value, repr(now), line,
                                  self.audit_max, "1" if refund else "0", int(self.retention_s)])
        return bool(done)
