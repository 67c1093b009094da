"""Detector state checkpoints in Redis, signed so that state read back is never unpickled unless we wrote it.

Why Redis and not a Faust table: the state of a series key must be readable by whichever worker owns the key's
partition after a crash or a rebalance, and must not cost a changelog write per event. The engine checkpoints the
keys that changed every few seconds and loads a key's state the first time it sees the key.

Why signing: detector state is pickled (River models pickle exactly), and unpickling attacker-controlled bytes runs
code. Anyone who can write to Redis could plant such bytes, so each blob carries an HMAC-SHA256 under a key that
lives outside Redis; a blob whose tag does not verify is ignored (the key starts a fresh warm-up) and counted. The
tag covers the series key too: a genuine checkpoint copied to another series' key (to give that series a baseline
that hides an incident) does not verify there. Checkpoints signed before the tag covered the key are not restored;
their series warm up again.

Why a TTL: a series key is whatever producers send, and a checkpoint nobody saves for ``state.checkpoint_ttl_s``
(7 days by default: longer than any outage or weekend lull; every save refreshes it) belongs to a series that is
gone, so Redis drops it instead of keeping every key ever seen.

>>> codec = SignedBlobCodec(b"k" * 32)
>>> codec.decode('["chat"]', codec.encode('["chat"]', b"state"))
b'state'
>>> codec.decode('["search"]', codec.encode('["chat"]', b"state")) is None
True
>>> codec.decode('["chat"]', b"x" * 40) is None
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

from inferwatch.detectors.state import StateStore
from inferwatch.streams.metrics import CHECKPOINT_REJECTED

log = logging.getLogger(__name__)

KEY_PREFIX = "inferwatch:detector-state:"
TAG_BYTES = 32
#: how long a checkpoint outlives its last save (``state.checkpoint_ttl_s``)
DEFAULT_TTL_S = 7 * 86400.0
#: what is signed starts with this, so a tag made for anything else (or by the format that signed the blob alone)
#: never verifies as a checkpoint's
_SIGNED_AS = b"inferwatch checkpoint v2\0"


class SignedBlobCodec:
    """Prefix blobs with an HMAC tag over the series key and the blob; refuse blobs whose tag does not verify."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("state signing key must be at least 16 bytes")
        self._key = key

    def encode(self, series_key: str, blob: bytes) -> bytes:
        return self._tag(series_key, blob) + blob

    def decode(self, series_key: str, signed: bytes) -> bytes | None:
        tag, blob = signed[:TAG_BYTES], signed[TAG_BYTES:]
        return blob if hmac.compare_digest(tag, self._tag(series_key, blob)) else None

    def _tag(self, series_key: str, blob: bytes) -> bytes:
        key = series_key.encode()
        mac = hmac.new(self._key, _SIGNED_AS + len(key).to_bytes(4, "big") + key, hashlib.sha256)
        mac.update(blob)
        return mac.digest()


class RedisCheckpointStore:
    """The engine's ``StateStore`` (``load`` / ``save_many``): one plain Redis key per series key."""

    def __init__(self, client: redis.Redis, codec: SignedBlobCodec, prefix: str = KEY_PREFIX,
                 ttl_s: float = DEFAULT_TTL_S) -> None:
        self._redis = client
        self._codec = codec
        self._prefix = prefix
        self._ttl_ms = max(1, int(ttl_s * 1000))

    def load(self, key: str) -> bytes | None:
        """Redis errors (down, a value of the wrong type) propagate: the engine logs and counts them, and starts
        that series afresh."""
        signed = self._redis.get(self._prefix + key)
        if signed is None:
            return None
        blob = self._codec.decode(key, signed)
        if blob is None:
            CHECKPOINT_REJECTED.inc()
            log.warning("ignoring detector checkpoint for series %r: its signature does not verify (forged, moved "
                        "from another series' key, or signed by an older version); the series warms up afresh", key)
        return blob

    def keys(self, starting_with: str, limit: int = 10_000) -> list[str]:
        """Series keys whose checkpoint key starts with ``starting_with`` (at most ``limit``), for read-only tools."""
        pattern = self._prefix + _glob_escape(starting_with) + "*"
        found = []
        for raw in self._redis.scan_iter(match=pattern, count=1000):
            found.append((raw.decode() if isinstance(raw, bytes) else raw)[len(self._prefix):])
            if len(found) >= limit:
                break
        return sorted(found)

    def save_many(self, items: dict[str, bytes]) -> None:
        """Each save sets the checkpoint's TTL anew. Errors propagate: the engine keeps the states for the next try."""
        if not items:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key, blob in items.items():
            pipe.set(self._prefix + key, self._codec.encode(key, blob), px=self._ttl_ms)
        pipe.execute()


class StagedStore:
    """A store whose saves wait in memory until ``write``: the worker stages a partition's checkpoint when no message
    is half-handled, has Kafka acknowledge every record that state emitted, and only then writes it (and then lets
    the messages' offsets be committed). Written sooner, a SIGKILL could leave a checkpoint whose records never
    reached Kafka: its next owner would restore an episode already "paged" that nobody was paged for.

    A failed ``write`` keeps what was staged (later stages are merged over it) for the next one; ``load`` sees staged
    state first, so a series reloaded by this worker never goes back in time.

    >>> from inferwatch.detectors.state import InMemoryStateStore
    >>> staged = StagedStore(InMemoryStateStore())
    >>> staged.save_many({"chat": b"v1"}); staged.store.load("chat"), staged.load("chat")
    (None, b'v1')
    >>> staged.write(), staged.store.load("chat"), staged.write()
    (1, b'v1', 0)
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._staged: dict[str, bytes] = {}

    def load(self, key: str) -> bytes | None:
        staged = self._staged.get(key)
        return staged if staged is not None else self.store.load(key)

    def save_many(self, items: dict[str, bytes]) -> None:
        self._staged.update(items)

    def write(self) -> int:
        """Save what is staged; returns how many series. Errors propagate and keep it staged."""
        if self._staged:
            self.store.save_many(self._staged)
        written, self._staged = len(self._staged), {}
        return written


def checkpoint_store(settings) -> RedisCheckpointStore:
    """The store the worker checkpoints to, built from ``streams.config.Settings`` (``redis`` and ``state``)."""
    return RedisCheckpointStore(
        redis.Redis.from_url(settings.redis.url, **settings.redis.client_options()),
        SignedBlobCodec(signing_key(settings.state.signing_key, settings.state.signing_key_file)),
        ttl_s=settings.state.checkpoint_ttl_s,
    )


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


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
