"""How a series' state is written to the state store, and read back: a checkpoint's byte format.

A checkpoint is one header byte (the engine's ``STATE_VERSION``), four bytes naming the layout of the classes it may
hold (``LAYOUT``), then the deflated pickle of the series. The pickle writes the engine's own small classes (buckets,
episodes, detectors and their wrappers: ``CLASSES``) as their index in that table and their slot values
(``detectors.pickling.Slotted``), not as a module path and class name: a tenant series holds nine such classes and
would otherwise spend a tenth of its bytes naming them. ``LAYOUT`` is a checksum of the table and of the slots each
class pickles, so a checkpoint written before a class gained, lost or reordered a slot (or before the table
changed) is refused, as one of another ``STATE_VERSION`` is, instead of being misread. Classes not in the table
(the series itself, River's objects) are pickled as usual.

What is left after that is numbers: the sums, tallies and exemplar ids of the ring's 20 closed buckets, and what
each detector learned (docs/limits.md, state per series).

>>> from inferwatch.detectors.episodes import Episode
>>> episode = Episode()
>>> episode.above, episode.started_ns = 2, 15 * 10**9
>>> blob = encode({"latency": episode}, version=3, level=6)
>>> blob[0], decode(blob, version=3)["latency"].__getstate__() == episode.__getstate__()
(3, True)
>>> decode(blob, version=4), decode(b"x" + blob[1:], version=3), decode(None, version=3)
(None, None, None)
"""
from __future__ import annotations

import io
import pickle
import zlib
from typing import Any

from inferwatch.detectors.adaptive_threshold import AdaptiveThreshold
from inferwatch.detectors.adwin_drift import AdwinDrift
from inferwatch.detectors.bucket import Bucket, CallBucket
from inferwatch.detectors.category_mix import CategoryMixDrift
from inferwatch.detectors.concept_drift import ConceptDrift
from inferwatch.detectors.embedding_drift import EmbeddingDrift
from inferwatch.detectors.episodes import Episode
from inferwatch.detectors.ewstats import EWStats
from inferwatch.detectors.filters import LearnIfNormal, WarmUp
from inferwatch.detectors.pickling import Slotted, state_names
from inferwatch.detectors.rare_rate import RareEventRate
from inferwatch.detectors.slo_burn import BurnRate
from inferwatch.detectors.slo_series import SloBucket
from inferwatch.detectors.traffic import TrafficRate
from inferwatch.detectors.variant_regression import VariantRegression

#: the classes a checkpoint writes by their index here (append only; any change changes ``LAYOUT``)
CLASSES: tuple[type[Slotted], ...] = (
    CallBucket, Bucket, SloBucket, Episode, WarmUp, LearnIfNormal, EWStats, AdaptiveThreshold, RareEventRate,
    TrafficRate, AdwinDrift, CategoryMixDrift, EmbeddingDrift, ConceptDrift, VariantRegression, BurnRate,
)
_INDEX = {cls: i for i, cls in enumerate(CLASSES)}
#: the table and each class's pickled slots, as a checksum: a checkpoint of another layout is not read
LAYOUT = zlib.crc32(";".join(f"{c.__module__}.{c.__qualname__}:{','.join(state_names(c))}"
                             for c in CLASSES).encode()).to_bytes(4, "little")


def _rebuild(index: int, state: tuple) -> Slotted:
    """A table class's object from its index and state (what unpickling calls)."""
    cls = CLASSES[index]
    obj = cls.__new__(cls)
    obj.__setstate__(state)
    return obj


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        index = _INDEX.get(type(obj))
        if index is None:
            return NotImplemented
        return _rebuild, (index, obj.__getstate__())


def encode(state: Any, version: int, level: int) -> bytes:
    """``state`` as a checkpoint of ``version``, deflated at zlib ``level``."""
    buffer = io.BytesIO()
    _Pickler(buffer, pickle.HIGHEST_PROTOCOL).dump(state)
    return bytes([version]) + LAYOUT + zlib.compress(buffer.getvalue(), level)


def decode(blob: bytes | None, version: int) -> Any | None:
    """What ``encode`` wrote; None for no checkpoint or one of another version or layout."""
    if blob is None or blob[:1] != bytes([version]) or blob[1:5] != LAYOUT:
        return None
    return pickle.loads(zlib.decompress(blob[5:]))
