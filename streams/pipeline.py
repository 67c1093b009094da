"""From one raw telemetry message to anomaly records and dead-letter rejections: the worker's per-message step.

It is plain synchronous code with no Kafka in it, so the Faust agent, ``inferwatch replay`` and the tests run the
very same step. The event-time watermark lives here: it is the largest event time seen, and the detection engine is
told about it whenever it crosses a new ``advance_every_s`` boundary, so silence and traffic detectors fire in event
time, identically online and offline for the same sequence of messages.

Producers are other teams' code, so the step defends itself, in this order (docs/limits.md, Ingest):

1. validation (``streams.schema``), with the latest event time accepted: the wall clock plus
   ``ingest.max_future_skew_s``, so one event stamped in 2099 cannot drag event time, and every series, into the
   future; the watermark never passes that bound either;
2. deduplication: an ``event.id`` seen within the window (``ingest.dedup_window_*``) is counted, not processed, so a
   producer that delivers every message three times does not look like triple traffic;
3. one barrier per event: whatever the engine raises for one event (a bug of ours included) dead-letters that event
   with reason ``internal error: <type>: <message>``; the batch's other events and later messages carry on.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Hashable, Protocol

from inferwatch.detectors.contract import NS
from inferwatch.streams.config import IngestSettings
from inferwatch.streams.schema import DEFAULT_MAX_MESSAGE_BYTES, Rejection, decode_message, encode_element

#: how much of an exception's message goes into an internal-error reason (it may quote a value)
REASON_MESSAGE_CHARS = 100

log = logging.getLogger(__name__)


class Engine(Protocol):
    def process(self, event: dict) -> list[dict]: ...

    def advance(self, watermark_ns: int) -> list[dict]: ...


@dataclass
class Outcome:
    anomalies: list[dict] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    #: events the engine processed (valid, not duplicates, no internal error)
    events: int = 0
    #: valid events dropped because their ``event.id`` was seen within the dedup window
    duplicates: int = 0
    #: exceptions caught by the barrier (each dead-lettered event is also in ``rejections``)
    internal_errors: int = 0


class RecentIds:
    """The ids of recent events, bounded by count and by event time, oldest forgotten first.

    >>> ids = RecentIds(max_ids=2, window_ns=100)
    >>> [ids.seen("a", 0), ids.seen("a", 5), ids.seen("b", 10), ids.seen("c", 20), ids.seen("a", 30)]
    [False, True, False, False, False]
    >>> ids.seen("x", 500), ids.seen("c", 501), len(ids)
    (False, False, 2)
    """

    def __init__(self, max_ids: int, window_ns: int) -> None:
        self.max_ids = max_ids
        self.window_ns = window_ns
        self._times: OrderedDict[Hashable, int] = OrderedDict()
        self._newest_ns = 0

    def __len__(self) -> int:
        return len(self._times)

    def seen(self, key: Hashable, t_ns: int) -> bool:
        """True if ``key`` is remembered; otherwise remember it (at event time ``t_ns``) and return False."""
        if not self.max_ids:
            return False
        if key in self._times:
            return True
        times = self._times
        times[key] = t_ns
        self._newest_ns = max(self._newest_ns, t_ns)
        horizon = self._newest_ns - self.window_ns
        while len(times) > self.max_ids or times[next(iter(times))] < horizon:
            times.popitem(last=False)
        return False


class TelemetryPipeline:
    """Validate a message, feed its events to the engine in order, and advance the event-time watermark."""

    def __init__(self, engine: Engine, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 advance_every_s: float = 10.0, ingest: IngestSettings = IngestSettings(),
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.max_message_bytes = max_message_bytes
        self.advance_every_ns = int(advance_every_s * NS)
        self.ingest = ingest
        #: wall clock (seconds since the epoch) that bounds event time; replay passes one that follows its file
        self.clock = clock
        self.watermark_ns = 0
        self._advanced_to = 0
        self._skew_ns = int(ingest.max_future_skew_s * NS)
        self._recent = RecentIds(ingest.dedup_window_events, int(ingest.dedup_window_s * NS))
        #: exceptions caught by the barrier since this pipeline started
        self.internal_errors = 0
        self._logged: set[str] = set()

    def latest_ns(self) -> int:
        """The latest event time accepted now: the wall clock plus the allowed skew."""
        return int(self.clock() * NS) + self._skew_ns

    def handle(self, raw: bytes) -> Outcome:
        errors_before = self.internal_errors
        try:
            events, rejections = decode_message(raw, self.max_message_bytes, self.ingest.max_events_per_message,
                                                self.latest_ns())
        except Exception as exc:  # a bug of ours in validation: the message is dead-lettered, the worker goes on
            return Outcome(rejections=[self._internal_error(exc, raw if isinstance(raw, bytes) else b"")],
                           internal_errors=self.internal_errors - errors_before)
        outcome = Outcome(rejections=rejections)
        for event in events:
            t = event["time_unix_nano"]
            if self._recent.seen((event["service.name"], event["event.id"]), t):
                outcome.duplicates += 1
                continue
            try:
                outcome.anomalies += self.engine.process(event)
            except Exception as exc:
                outcome.rejections.append(self._internal_error(exc, encode_element(event)))
                continue
            outcome.events += 1
            if t > self.watermark_ns:
                self.watermark_ns = t
                if t - self._advanced_to >= self.advance_every_ns:
                    outcome.anomalies += self.advance(t)
        outcome.internal_errors = self.internal_errors - errors_before
        return outcome

    def advance(self, watermark_ns: int) -> list[dict]:
        """Move event time forward (also used by the worker when traffic stops altogether), never past
        ``latest_ns()``."""
        self.watermark_ns = max(self.watermark_ns, min(watermark_ns, self.latest_ns()))
        self._advanced_to = self.watermark_ns - self.watermark_ns % self.advance_every_ns
        try:
            return self.engine.advance(self.watermark_ns)
        except Exception as exc:  # counted and logged; the next advance tries again
            self._internal_error(exc, b"")
            return []

    def _internal_error(self, exc: Exception, original: bytes) -> Rejection:
        """Count and log an exception caught by the barrier; the rejection that dead-letters what caused it."""
        self.internal_errors += 1
        kind = type(exc).__name__
        if kind not in self._logged:  # the traceback once per exception type, not once per hostile event
            self._logged.add(kind)
            log.error("internal error while handling telemetry (%s); dead-lettering and carrying on", kind,
                      exc_info=exc)
        return internal_error(exc, original)


def internal_error(exc: BaseException, original: bytes) -> Rejection:
    """The dead letter for input that made our code raise: the type and the start of the message, on one line.

    >>> internal_error(ValueError("math domain error"), b"{}").reason
    'internal error: ValueError: math domain error'
    """
    message = " ".join(str(exc).split())[:REASON_MESSAGE_CHARS]
    kind = type(exc).__name__
    return Rejection(f"internal error: {kind}: {message}" if message else f"internal error: {kind}", None, original)
