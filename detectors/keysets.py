"""Key sets: the ways events are cut into series, each with the signals its series are watched on.

The primary key set (``detectors.series_key``) takes every event, leaving out the fields an event lacks, and is
watched on every enabled signal. Each extra key set (``detectors.extra_series_keys``, e.g. service and tenant) takes
only the events that have all its fields and is watched on a few signals (``detectors.extra_series_signals``), which
bounds what thousands of tenants cost; being many, they fire at a stricter score (``extra_series_fire_score``). A
series' labels are its key set's fields, so the same problem on a tenant series and on a model series has two
fingerprints.

A key set's ``optional`` fields (the deployment environment, ``detectors.environment_field``) cut series when an event
has them and are simply left out of its labels and store key when it does not: an event without an environment still
joins a tenant series, and a series without one keeps the store key it had before the field was added.

>>> tenants = KeySet(1, ["service.name", "app.tenant.id"], [], partial=False, new_bucket=lambda: CallBucket([]))
>>> key = tenants.key({"service.name": "chat", "app.tenant.id": "t7", "gen_ai.request.model": "m"})
>>> key, tenants.labels(key), tenants.store_key(key)
((1, 'chat', 't7'), {'service.name': 'chat', 'app.tenant.id': 't7'}, '{"service.name":"chat","app.tenant.id":"t7"}')
>>> tenants.key({"service.name": "chat"}) is None
True
>>> KeySet(1, ["service.name"], [], False, tenants.new_bucket, calls_only=True).key(
...     {"service.name": "chat", "event.kind": "feedback"}) is None
True
>>> models = KeySet(0, ["service.name", "gen_ai.request.model"], [], partial=True, new_bucket=tenants.new_bucket)
>>> key = models.key({"service.name": "chat"}); key, models.labels(key), models.store_key(key)
((0, 'chat', None), {'service.name': 'chat'}, '["chat",null]')
>>> envs = KeySet(0, ["service.name", "env", "gen_ai.request.model"], [], True, tenants.new_bucket, optional={"env"})
>>> envs.store_key(envs.key({"service.name": "chat", "env": "prod", "gen_ai.request.model": "m"}))
'["chat","prod","m"]'
>>> key = envs.key({"service.name": "chat", "gen_ai.request.model": "m"}); envs.labels(key), envs.store_key(key)
({'service.name': 'chat', 'gen_ai.request.model': 'm'}, '["chat","m"]')
>>> staged = KeySet(1, ["service.name", "env", "app.tenant.id"], [], False, tenants.new_bucket, optional={"env"})
>>> staged.labels(staged.key({"service.name": "chat", "app.tenant.id": "t7"}))
{'service.name': 'chat', 'app.tenant.id': 't7'}
>>> staged.key({"service.name": "chat", "env": "staging"}) is None
True
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from inferwatch.detectors.bucket import CallBucket
from inferwatch.detectors.config import EpisodeSettings


class KeySet:
    """Which fields make a series key, which signals (``detectors.signals``) its series are watched on, the bucket
    that sums what those signals read, and when its episodes open and resolve."""

    __slots__ = ("index", "fields", "signals", "partial", "calls_only", "new_bucket", "episode", "silent", "selector",
                 "tag", "optional", "sums_calls", "_required_at", "_optional_at")

    def __init__(self, index: int, fields: list[str], signals: list[Any], partial: bool,
                 new_bucket: Callable[[], Any], episode: EpisodeSettings = EpisodeSettings(),
                 calls_only: bool = False, selector: dict | None = None, tag: dict | None = None,
                 optional: Iterable[str] = ()) -> None:
        self.index = index
        self.fields = list(fields)
        #: fields an event may lack and still join (even a key set that is not partial); left out of the labels then
        self.optional = frozenset(optional)
        if index == 0 and len(self.optional) > 1:  # with two, a list missing one value would not say which
            raise ValueError(f"the primary key set can have one optional field, got {sorted(self.optional)}")
        self._required_at = [i for i, f in enumerate(self.fields) if f not in self.optional]
        self._optional_at = [i for i, f in enumerate(self.fields) if f in self.optional]
        self.signals = signals
        #: a partial key set keeps events that lack some of its fields (the primary one: every event has a series)
        self.partial = partial
        #: takes LLM calls only (its signals read nothing from evaluation and feedback events)
        self.calls_only = calls_only
        self.new_bucket = new_bucket
        #: what a bucket without events closes as: one shared empty bucket (closed buckets are only read)
        self.silent = new_bucket()
        #: its buckets take an event with its ``bucket.call_values``, worked out once for all the series it joins
        self.sums_calls = isinstance(self.silent, CallBucket)
        self.episode = episode
        #: exact field values an event must have to join (an SLO's ``selector``); empty = every event
        self.selector = tuple((selector or {}).items())
        #: what sets the key set's checkpoints apart from another's with the same fields (an SLO's name)
        self.tag = dict(tag or {})

    def key(self, event: dict) -> tuple | None:
        """The engine's key of the event's series in this key set (the index keeps key sets apart), or None."""
        if self.calls_only and event.get("event.kind", "llm_call") != "llm_call":
            return None
        for name, wanted in self.selector:
            if event.get(name) != wanted:
                return None
        values = tuple(map(event.get, self.fields))
        if not self.partial and None in values and any(values[i] is None for i in self._required_at):
            return None
        return (self.index, *values)

    def labels(self, key: tuple) -> dict:
        return {f: v for f, v in zip(self.fields, key[1:]) if v is not None}

    def store_key(self, key: tuple) -> str:
        """The checkpoint key: the primary key set keeps the JSON list of values it always had (checkpoints already
        stored stay valid), less an optional field the series lacks; extra key sets use a JSON object of their labels,
        which cannot collide with a list."""
        if self.index == 0:
            values = [v for i, v in enumerate(key[1:]) if v is not None or i not in self._optional_at]
            return json.dumps(values, separators=(",", ":"))
        return json.dumps({**self.tag, **self.labels(key)}, separators=(",", ":"))
