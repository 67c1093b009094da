"""Silences: label matchers with a time window that mute pages (not the lifecycle) of the alerts they match.

A silenced alert still opens, escalates its timers, resolves, and gets its resolve sent to whoever it paged before
the silence. Maintenance windows are silences with a future start.

>>> s = Silence(id="s1", matchers={"service.name": "checkout"}, starts_at=0, ends_at=100, comment="deploy",
...             created_by="alice")
>>> s.active(50), s.active(100), s.matches({"service.name": "checkout", "kind": "rate"})
(True, False, True)
"""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from typing import Mapping

import redis

from inferwatch.alerting.matchers import matches, parse_matchers


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    comment: str
    created_by: str

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, object]) -> bool:
        return matches(parse_matchers(self.matchers), labels)


class SilenceStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.key = f"{prefix}silences"

    def add(self, matchers: dict[str, str], starts_at: float, ends_at: float, comment: str, created_by: str) -> Silence:
        if not matchers:
            raise ValueError("a silence needs at least one matcher (it would mute everything)")
        if ends_at <= starts_at:
            raise ValueError("a silence must end after it starts")
        parse_matchers(matchers)  # raises MatcherError naming the bad key
        silence = Silence(id=uuid.uuid4().hex[:12], matchers=dict(matchers), starts_at=starts_at, ends_at=ends_at,
                          comment=comment, created_by=created_by)
        self.redis.hset(self.key, silence.id, json.dumps(asdict(silence)))
        return silence

    def all(self) -> list[Silence]:
        return sorted((Silence(**json.loads(v)) for v in self.redis.hvals(self.key)), key=lambda s: s.starts_at)

    def active(self, now: float) -> list[Silence]:
        return [s for s in self.all() if s.active(now)]

    def expire(self, silence_id: str, now: float) -> bool:
        """End a silence now (kept for the record); False if there is no such silence."""
        raw = self.redis.hget(self.key, silence_id)
        if raw is None:
            return False
        silence = Silence(**{**json.loads(raw), "ends_at": min(now, json.loads(raw)["ends_at"])})
        self.redis.hset(self.key, silence_id, json.dumps(asdict(silence)))
        return True
