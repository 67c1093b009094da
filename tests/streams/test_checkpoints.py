"""Detector checkpoints in a real Redis: restored when we wrote them, refused when anyone else did."""
from __future__ import annotations

import pickle
import stat

import pytest

from streams import metrics
from streams.checkpoints import KEY_PREFIX, RedisCheckpointStore, SignedBlobCodec, signing_key

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
