"""Alert state in Redis, changed only atomically.

Two writers touch an alert. ``ingest`` is one Lua script (dedup by event-time watermark, open an episode, refresh the
latest record), so concurrent workers and redelivered Kafka records cannot half-apply; it takes a batch of records
per call, applied in order, so a worker's batch costs one round trip instead of one per record. The engine's decisions run
as optimistic transactions (WATCH the alert, decide in Python, MULTI/EXEC the new state together with its outbox
entries and audit lines): if anything else changed the alert in between, the decision is thrown away and re-made, so
two engine instances can never both take the same step.

Keys (``P`` = key prefix): ``P alert:<fp>`` (state hash), ``P seen:<fp>`` (latest record, last-seen time, count),
``P due`` (fingerprints by next wake-up time), ``P active`` (unresolved fingerprints), ``P index`` (all by last
change), ``P audit:<fp>`` (JSON lines), ``P records:<fp>`` (the last ``HISTORY_MAX`` records applied, oldest first:
what the web console plots). Not Redis Cluster safe (scripts derive keys from the prefix).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections import Counter
from typing import Callable, NamedTuple, Sequence

import redis

from inferwatch.alerting.alert import Alert
from inferwatch.alerting.outbox import Outbox, OutboxEntry
from inferwatch.detectors.contract import DEFAULT_SEVERITY, SEVERITY_RANKS_JSON, severity_rank  # the record contract (leaf)

# KEYS: due, active, index. ARGV: now, audit_max, history_max, the severity scale, the prefixes of an alert's four
# keys (alert, seen, audit, records: the fingerprint completes them), then two per record: a header
# "<event time> <status> <severity> <fingerprint>" and the record's JSON (two arguments, not nine: packing the
# arguments is most of the client's cost)
INGEST_LUA = """
local due, active, index = KEYS[1], KEYS[2], KEYS[3]
local now, audit_max, history_max = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
-- the severity scale (detectors.contract) as ARGV: {name = rank} JSON and the rank of an unknown severity
local rank, default_rank = cjson.decode(ARGV[4]), tonumber(ARGV[5])
local alert_prefix, seen_prefix, audit_prefix, history_prefix = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local function remember(history, record)
  if redis.call('RPUSH', history, record) > history_max then redis.call('LTRIM', history, -history_max, -1) end
end
local function apply(alert, seen, audit, history, fp, event_ns, record, status, severity)
  local watermark, count = unpack(redis.call('HMGET', seen, 'watermark', 'count'))
  if watermark and event_ns <= watermark then return 'duplicate' end
  local state, requested, current = unpack(redis.call('HMGET', alert, 'state', 'resolve_requested', 'severity'))
  local is_active = state and state ~= 'resolved'
  if status == 'resolved' then
    redis.call('HSET', seen, 'watermark', event_ns)
    if not is_active then return 'resolved-noop' end
    remember(history, record)
    redis.call('HSET', alert, 'resolve_requested', now)
    redis.call('HINCRBY', alert, 'version', 1)
    redis.call('ZADD', due, now, fp)
    return 'resolve-requested'
  end
  remember(history, record)
  if not is_active then
    redis.call('HSET', seen, 'watermark', event_ns, 'last_seen', now, 'record', record, 'count', 1)
    redis.call('PERSIST', alert)
    redis.call('PERSIST', seen)
    redis.call('PERSIST', audit)
    redis.call('PERSIST', history)
    local episode = redis.call('HINCRBY', alert, 'episode', 1)
    local opens = redis.call('HGET', alert, 'opens') or ''
    if opens ~= '' then opens = opens .. ',' end
    redis.call('HSET', alert, 'fingerprint', fp, 'state', 'pending', 'opened_at', now, 'severity', severity,
               'resolve_requested', '', 'doc', '{}', 'opens', opens .. now)
    redis.call('HINCRBY', alert, 'version', 1)
    redis.call('SADD', active, fp)
    redis.call('ZADD', due, now, fp)
    redis.call('ZADD', index, now, fp)
    redis.call('RPUSH', audit, cjson.encode({t = tonumber(now), actor = 'ingest', event = 'opened',
                                             detail = 'episode ' .. episode .. ', severity ' .. severity}))
    redis.call('LTRIM', audit, -audit_max, -1)
    return 'opened'
  end
  redis.call('HSET', seen, 'watermark', event_ns, 'last_seen', now, 'record', record, 'count', (tonumber(count) or 0) + 1)
  local changed = {}
  if requested and requested ~= '' then
    table.insert(changed, 'resolve_requested')
    table.insert(changed, '')
  end
  if (rank[severity] or default_rank) > (rank[current] or default_rank) then
    table.insert(changed, 'severity')
    table.insert(changed, severity)
  end
  if #changed == 0 then return 'updated' end
  redis.call('HSET', alert, unpack(changed))
  redis.call('HINCRBY', alert, 'version', 1)
  redis.call('ZADD', due, now, fp)
  return 'changed'
end
local counts = {}
for i = 10, #ARGV, 2 do
  local event_ns, status, severity, fp = string.match(ARGV[i], '^(%d+) (%S+) (%S+) (.+)$')
  local outcome = apply(alert_prefix .. fp, seen_prefix .. fp, audit_prefix .. fp, history_prefix .. fp,
                        fp, event_ns, ARGV[i + 1], status, severity)
  counts[outcome] = (counts[outcome] or 0) + 1
end
local flat = {}
for outcome, count in pairs(counts) do
  table.insert(flat, outcome)
  table.insert(flat, count)
end
return flat
"""


#: records applied per Lua call: a round trip carries many, yet no call blocks Redis for more than a few milliseconds
INGEST_BATCH = 500
#: records kept per alert for its plot (across episodes): enough for a day of renotifies, small in Redis
HISTORY_MAX = 200


class ParsedRecord(NamedTuple):
    """What the ingest script needs of one anomaly record (``alerting.service.parse_record`` makes it)."""

    fingerprint: str
    event_ns: int
    status: str
    severity: str
    record_json: bytes


class ConflictError(RuntimeError):
    """An alert kept changing under a decision; the next tick tries again."""


@dataclass
class AuditLine:
    event: str
    actor: str
    detail: str = ""


@dataclass
class Change:
    """What one decision does to one alert: its new state plus what must be written with it, atomically."""

    alert: Alert
    outbox: list[OutboxEntry] = field(default_factory=list)
    audit: list[AuditLine] = field(default_factory=list)
    #: next wake-up; None removes the alert from the schedule
    due_at: float | None = None
    #: the decision assumed no record arrived since the alert was read (auto-resolve): guard against one racing in
    assumes_quiet: bool = False


class AlertStore:
    def __init__(self, client: redis.Redis, prefix: str, outbox: Outbox, audit_max: int = 1000,
                 retention_s: float = 30 * 86400.0, history_max: int = HISTORY_MAX) -> None:
        self.redis = client
        self.prefix = prefix
        self.outbox = outbox
        self.audit_max = audit_max
        self.retention_s = retention_s
        self.history_max = history_max
        self._ingest = client.register_script(INGEST_LUA)

    def key(self, kind: str, fp: str = "") -> str:
        return self.per_alert_prefix(kind) + fp if fp else f"{self.prefix}{kind}"

    def per_alert_prefix(self, kind: str) -> str:
        """``P <kind>:``, what a per-alert key is built from (for scripts that find an alert's keys themselves)."""
        return f"{self.prefix}{kind}:"

    def ingest(self, records: Sequence[ParsedRecord], now: float) -> Counter[str]:
        """Apply anomaly records in order, ``INGEST_BATCH`` per Lua call (one round trip each); returns how many had
        each outcome (``duplicate``, ``opened``, ``updated``, ``changed``, ``resolve-requested``, ``resolved-noop``)."""
        outcomes: Counter[str] = Counter()
        prefixes = [self.per_alert_prefix(kind) for kind in ("alert", "seen", "audit", "records")]
        for start in range(0, len(records), INGEST_BATCH):
            args: list[str | int | bytes] = [repr(now), self.audit_max, self.history_max, SEVERITY_RANKS_JSON,
                                             severity_rank(DEFAULT_SEVERITY), *prefixes]
            for r in records[start:start + INGEST_BATCH]:
                # zero-padded so Lua compares event times exactly as strings (doubles would round nanoseconds)
                args += [f"{r.event_ns:020d} {r.status} {r.severity} {r.fingerprint}", r.record_json]
            flat = self._ingest(keys=[self.key("due"), self.key("active"), self.key("index")], args=args)
            outcomes.update({(name.decode() if isinstance(name, bytes) else name): int(count)
                             for name, count in zip(flat[::2], flat[1::2])})
        return outcomes

    def load(self, fp: str) -> Alert | None:
        raw, seen = self.redis.hgetall(self.key("alert", fp)), self.redis.hgetall(self.key("seen", fp))
        return Alert.from_redis(_decode(raw), _decode(seen)) if raw else None

    def active_alerts(self) -> list[Alert]:
        fps = sorted(m.decode() for m in self.redis.smembers(self.key("active")))
        return [a for a in (self.load(fp) for fp in fps) if a is not None]

    def recent(self, limit: int = 100) -> list[Alert]:
        fps = [m.decode() for m in self.redis.zrevrange(self.key("index"), 0, limit - 1)]
        return [a for a in (self.load(fp) for fp in fps) if a is not None]

    def wake_active(self, now: float) -> None:
        """Make every unresolved alert due now (after a change that may unmute them, such as an expired silence)."""
        fps = list(self.redis.smembers(self.key("active")))
        if fps:
            self.redis.zadd(self.key("due"), {fp: now for fp in fps})

    def due(self, now: float, limit: int = 500) -> list[str]:
        return [m.decode() for m in self.redis.zrangebyscore(self.key("due"), "-inf", now, start=0, num=limit)]

    def audit(self, fp: str) -> list[dict]:
        return [json.loads(line) for line in self.redis.lrange(self.key("audit", fp), 0, -1)]

    def records(self, fp: str) -> list[dict]:
        """The alert's recent anomaly records, oldest first (at most ``history_max``, across episodes)."""
        return [json.loads(line) for line in self.redis.lrange(self.key("records", fp), 0, -1)]

    def transact(self, fp: str, decide: Callable[[Alert], Change | None], now: float,
                 attempts: int = 25) -> Change | None:
        """Run ``decide`` on a consistent snapshot and commit its Change atomically, re-deciding on conflicts."""
        alert_key, seen_key = self.key("alert", fp), self.key("seen", fp)
        for _ in range(attempts):
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(alert_key)
                    raw = _decode(pipe.hgetall(alert_key))
                    if not raw:
                        return None
                    alert = Alert.from_redis(raw, _decode(pipe.hgetall(seen_key)))
                    change = decide(alert)
                    if change is None:
                        return None
                    if change.assumes_quiet:
                        pipe.watch(seen_key)
                        if float(pipe.hget(seen_key, "last_seen") or 0) != alert.last_seen:
                            continue
                    pipe.multi()
                    self._write(pipe, change, now)
                    pipe.execute()
                    return change
                except redis.WatchError:
                    continue
        raise ConflictError(f"alert {fp}: state kept changing during {attempts} attempts")

    def _write(self, pipe: redis.client.Pipeline, change: Change, now: float) -> None:
        a = change.alert
        fp = a.fingerprint
        pipe.hset(self.key("alert", fp), mapping={
            "state": a.state, "severity": a.severity, "resolve_requested": repr(a.resolve_requested) if a.resolve_requested else "", "opens": ",".join(repr(t) for t in a.opens), "doc": a.doc()})
        pipe.hincrby(self.key("alert", fp), "version", 1)
        kept = (self.key("alert", fp), self.key("seen", fp), self.key("audit", fp), self.key("records", fp))
        if a.active:
            pipe.sadd(self.key("active"), fp)
            for key in kept:
                pipe.persist(key)
        else:  # a resolved alert is kept for the record, then forgotten
            pipe.srem(self.key("active"), fp)
            for key in kept:
                pipe.expire(key, int(self.retention_s))
            pipe.zremrangebyscore(self.key("index"), "-inf", now - self.retention_s)
        if change.due_at is None:
            pipe.zrem(self.key("due"), fp)
        else:
            pipe.zadd(self.key("due"), {fp: change.due_at})
        if change.audit or change.outbox:
            pipe.zadd(self.key("index"), {fp: now})
        for entry in change.outbox:
            self.outbox.enqueue(pipe, entry)
        for line in change.audit:
            self.append_audit(pipe, fp, now, line)

    def append_audit(self, client: redis.Redis | redis.client.Pipeline, fp: str, now: float, line: AuditLine) -> None:
        client.rpush(self.key("audit", fp), json.dumps({"t": now, "actor": line.actor, "event": line.event,
                                                        "detail": line.detail}))
        client.ltrim(self.key("audit", fp), -self.audit_max, -1)


def _decode(raw: dict) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}
