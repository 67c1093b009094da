"""Detector state checkpoints in Redis, signed so that state read back is never unpickled unless we wrote it.

Why Redis and not a Faust table: the state of a series key must be readable by whichever worker owns the key's
partition after a crash or a rebalance, and must not cost a changelog write per event. The engine checkpoints the
keys that changed every few seconds and loads a key's state the first time it sees the key.

Why signing: detector state is pickled (River models pickle exactly), and unpickling attacker-controlled bytes runs
code. Anyone who can write to Redis could plant such bytes, so each blob carries an HMAC-SHA256 under a key that
lives outside Redis; a blob whose tag does not verify is ignored (the key starts a fresh warm-up) and counted.

>>> store = SignedBlobCodec(b"k" * 32)
>>> store.decode(store.encode(b"state"))
b'state'
>>> store.decode(b"x" * 40) is None
True
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

import redis

from streams.metrics import CHECKPOINT_REJECTED

log = logging.getLogger(__name__)

KEY_PREFIX = "inferwatch:detector-state:"
TAG_BYTES = 32


class SignedBlobCodec:
    """Prefix blobs with an HMAC tag; refuse blobs whose tag does not verify."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("state signing key must be at least 16 bytes")
        self._key = key

    def encode(self, blob: bytes) -> bytes:
        return hmac.new(self._key, blob, hashlib.sha256).digest() + blob

    def decode(self, signed: bytes) -> bytes | None:
        tag, blob = signed[:TAG_BYTES], signed[TAG_BYTES:]
        expected = hmac.new(self._key, blob, hashlib.sha256).digest()
        return blob if hmac.compare_digest(tag, expected) else None


class RedisCheckpointStore:
    """The engine's ``StateStore`` (``load`` / ``save_many``): one plain Redis key per series key."""

    def __init__(self, client: redis.Redis, codec: SignedBlobCodec, prefix: str = KEY_PREFIX) -> None:
        self._redis = client
        self._codec = codec
        self._prefix = prefix

    def load(self, key: str) -> bytes | None:
        signed = self._redis.get(self._prefix + key)
        if signed is None:
            return None
        blob = self._codec.decode(signed)
        if blob is None:
            CHECKPOINT_REJECTED.inc()
            log.warning("ignoring detector checkpoint with a bad signature for series %r", key)
        return blob

    def save_many(self, items: dict[str, bytes]) -> None:
        if not items:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key, blob in items.items():
            pipe.set(self._prefix + key, self._codec.encode(blob))
        pipe.execute()


def signing_key(configured: str, key_file: str | os.PathLike) -> bytes:
    """The configured key (``INFERWATCH_STATE_KEY``), else a random key kept in ``key_file`` (created 0600).

    The file default serves one machine (the demo, tests); workers on several hosts must share INFERWATCH_STATE_KEY.
    """
    if configured:
        return configured.encode()
    path = Path(key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
