"""Where per-series detector state is checkpointed, so a restarted worker or a partition's new owner needs no warm-up.

The engine hands over opaque bytes; a store that other processes can write (Redis) must sign them, because the
engine unpickles what ``load`` returns.

>>> store = InMemoryStateStore()
>>> store.save_many({"k": b"state"}); store.load("k"), store.load("other")
(b'state', None)
"""
from __future__ import annotations

from typing import Protocol


class StateStore(Protocol):
    def load(self, key: str) -> bytes | None:
        """The last saved state of ``key``, or None if there is none (or it cannot be trusted)."""

    def save_many(self, items: dict[str, bytes]) -> None:
        """Save several keys' states at once."""


class InMemoryStateStore:
    """A dict behind the store protocol: tests, replay and single-process runs."""

    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}

    def load(self, key: str) -> bytes | None:
        return self.items.get(key)

    def save_many(self, items: dict[str, bytes]) -> None:
        self.items.update(items)
