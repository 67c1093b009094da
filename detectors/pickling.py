"""One way to pickle the small slotted objects a series' checkpoint is made of (buckets, episodes, statistics).

A class with ``__slots__`` has no ``__dict__`` to pickle; ``Slotted`` pickles the values of every slot of the class
and its bases as one tuple, in slot order (bases first): compact, and the same bytes the hand-written pairs of
``__getstate__``/``__setstate__`` it replaces produced, so checkpoints written before stay readable. Adding or
reordering a slot changes the state: bump ``inferwatch.detectors.engine.STATE_VERSION``.

>>> class Point(Slotted):
...     __slots__ = ("x", "y")
...     def __init__(self, x, y):
...         self.x, self.y = x, y
>>> import copy
>>> p = copy.deepcopy(Point(1, 2))  # copies through __getstate__/__setstate__, as pickle does
>>> (p.x, p.y), p.__getstate__()
((1, 2), (1, 2))
"""
from __future__ import annotations

import functools
from typing import Any


@functools.cache
def slot_names(cls: type) -> tuple[str, ...]:
    """Every slot of ``cls`` and its bases, bases first."""
    return tuple(name for c in reversed(cls.__mro__) for name in c.__dict__.get("__slots__", ()))


class Slotted:
    """Mixin: pickle a slotted object as the tuple of its slot values."""

    __slots__ = ()

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in slot_names(type(self)))

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(slot_names(type(self)), state):
            setattr(self, name, value)
