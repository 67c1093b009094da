"""Detector checkpoints in a real Redis: restored when we wrote them, refused when anyone else did."""
from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import stat

import pytest

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.engine import DetectionEngine
from inferwatch.streams import metrics
from inferwatch.streams.checkpoints import DEFAULT_TTL_S, KEY_PREFIX, RedisCheckpointStore, SignedBlobCodec, signing_key
from inferwatch.streams.simulate import START_NS, generate

pytestmark = pytest.mark.redis


class Boom:
    """What an attacker would plant: unpickling it runs code."""

    def __reduce__(self):
        return (exec, ("raise SystemExit('pwned')",))


def test_checkpoints_round_trip(redis_client):
    store = RedisCheckpointStore(redis_client, SignedBlobCodec(b"k" * 32))
    store.save_many({'["checkout","openai","gpt-4o"]': b"state-1", '["search"]': b"state-2"})
    assert store.load('["checkout","openai","gpt-4o"]') == b"state-1"
    assert store.load('["search"]') == b"state-2"
    assert store.load('["never-seen"]') is None


def test_a_blob_planted_in_redis_is_refused_and_counted(redis_client):
    store = RedisCheckpointStore(redis_client, SignedBlobCodec(b"k" * 32))
    before = metrics.CHECKPOINT_REJECTED._value.get()
    redis_client.set(KEY_PREFIX + '["checkout"]', b"\0" * 32 + pickle.dumps(Boom()))
    assert store.load('["checkout"]') is None, "never handed to pickle"
    assert metrics.CHECKPOINT_REJECTED._value.get() == before + 1


def test_a_blob_signed_with_another_key_is_refused(redis_client):
    RedisCheckpointStore(redis_client, SignedBlobCodec(b"a" * 32)).save_many({"k": b"state"})
    assert RedisCheckpointStore(redis_client, SignedBlobCodec(b"b" * 32)).load("k") is None


def test_signing_key_from_setting_else_a_private_file(tmp_path):
    assert signing_key("configured-secret-key", tmp_path / "unused") == b"configured-secret-key"
    path = tmp_path / "run" / "state.key"
    first = signing_key("", path)
    assert len(first) == 64 and signing_key("", path) == first, "created once, then reused"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_checkpoint_moved_to_another_series_key_is_refused(redis_client):
    """Copying a genuine checkpoint over another series' key (to give it a baseline that hides an incident) fails."""
    store = RedisCheckpointStore(redis_client, SignedBlobCodec(b"k" * 32))
    store.save_many({'["checkout"]': b"state of checkout"})
    redis_client.set(KEY_PREFIX + '["search"]', redis_client.get(KEY_PREFIX + '["checkout"]'))
    before = metrics.CHECKPOINT_REJECTED._value.get()
    assert store.load('["search"]') is None
    assert metrics.CHECKPOINT_REJECTED._value.get() == before + 1
    assert store.load('["checkout"]') == b"state of checkout"


def test_checkpoints_expire_and_each_save_refreshes_the_ttl(redis_client):
    store = RedisCheckpointStore(redis_client, SignedBlobCodec(b"k" * 32))
    store.save_many({'["checkout"]': b"state"})
    ttl = redis_client.ttl(KEY_PREFIX + '["checkout"]')
    assert DEFAULT_TTL_S - 60 < ttl <= DEFAULT_TTL_S == 7 * 86400
    redis_client.expire(KEY_PREFIX + '["checkout"]', 30)
    store.save_many({'["checkout"]': b"state 2"})
    assert redis_client.ttl(KEY_PREFIX + '["checkout"]') > DEFAULT_TTL_S - 60
    RedisCheckpointStore(redis_client, SignedBlobCodec(b"k" * 32), ttl_s=3600).save_many({"k": b"s"})
    assert 3500 < redis_client.ttl(KEY_PREFIX + "k") <= 3600


def test_a_value_of_the_wrong_type_at_a_checkpoint_key_starts_the_series_afresh(redis_client):
    """WRONGTYPE from Redis while loading must not escape the engine: that series warms up, the others carry on."""
    events = [e for e in generate(seed=7, start_ns=START_NS, duration_s=120, rate_per_s=10, incidents=[])
              if e["event.kind"] == "llm_call"]
    first = events[0]
    key = json.dumps([first[f] for f in ("service.name", "deployment.environment.name", "gen_ai.provider.name",
                                         "gen_ai.request.model")], separators=(",", ":"))  # the model series' key
    redis_client.lpush(KEY_PREFIX + key, b"not a string")
    engine = DetectionEngine(DetectorSettings(enabled=["errors"]),
                             RedisCheckpointStore(redis_client, SignedBlobCodec(b"k" * 32)))
    for event in events:
        engine.process(event)
    assert engine.counts["checkpoint_load_failed"] == 1
    assert engine.series_count() > 6


def test_a_checkpoint_signed_the_old_way_is_not_restored(redis_client):
    """Before the tag covered the series key it covered the blob alone: such a checkpoint is refused once (that
    series warms up again) rather than trusted."""
    old_format = hmac.new(b"k" * 32, b"state", hashlib.sha256).digest() + b"state"
    redis_client.set(KEY_PREFIX + '["checkout"]', old_format)
    assert RedisCheckpointStore(redis_client, SignedBlobCodec(b"k" * 32)).load('["checkout"]') is None
