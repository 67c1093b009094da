"""One way to pickle the small slotted objects a series' checkpoint is made of (buckets, episodes, detectors).

A class with ``__slots__`` has no ``__dict__`` to pickle; ``Slotted`` pickles the values of every slot of the class
and its bases as one tuple, in slot order (bases first): no attribute names, no dict, a few bytes per number. Slots
named in ``_derived`` (constants computed from the parameters, caches) are left out and rebuilt by ``_derive`` on
restore, so a checkpoint holds only what cannot be recomputed. Adding, removing or reordering a pickled slot changes
the state: bump ``inferwatch.detectors.engine.STATE_VERSION`` (a checkpoint of the classes in
``detectors.checkpoint.CLASSES`` with other slots is refused anyway, by the layout checksum in its header).

>>> class Decay(Slotted):
...     __slots__ = ("half_life", "level", "_factor")
...     _derived = ("_factor",)
...     def __init__(self, half_life, level):
...         self.half_life, self.level = half_life, level
...         self._derive()
...     def _derive(self):
...         self._factor = 0.5 ** (1.0 / self.half_life)
>>> import copy
>>> d = copy.deepcopy(Decay(2.0, 1.0))  # copies through __getstate__/__setstate__, as pickle does
>>> d.__getstate__(), round(d._factor, 4)
((2.0, 1.0), 0.7071)
"""
from __future__ import annotations

import functools
from typing import Any


@functools.cache
def slot_names(cls: type) -> tuple[str, ...]:
    """Every slot of ``cls`` and its bases, bases first."""
    return tuple(name for c in reversed(cls.__mro__) for name in c.__dict__.get("__slots__", ()))


@functools.cache
def state_names(cls: type) -> tuple[str, ...]:
    """The slots ``cls`` pickles: all but its ``_derived`` ones."""
    derived = set(cls._derived)
    return tuple(name for name in slot_names(cls) if name not in derived)


class Slotted:
    """Mixin: pickle a slotted object as the tuple of its slot values, less the derived ones."""

    __slots__ = ()
    #: slots not pickled: ``_derive`` rebuilds them from the others
    _derived: tuple[str, ...] = ()

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in state_names(type(self)))

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(state_names(type(self)), state):
            setattr(self, name, value)
        if self._derived:
            self._derive()

    def _derive(self) -> None:
        """Set the ``_derived`` slots from the pickled ones (on construction and on restore)."""
