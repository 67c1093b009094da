"""The detection side of a worker: one pipeline per assigned partition, and the checkpoint store behind them.

Why one pipeline (engine + event-time watermark) per partition: every event of a series lands on one partition
(messages are keyed by service), and partitions advance in event time independently. A watermark shared across
partitions would let a fast partition declare a slow one's series silent. Per partition, the online worker runs
exactly the sequence ``inferwatch replay`` runs over that partition's messages.

When partitions are revoked, this worker checkpoints what changed and forgets those pipelines; whichever worker gets
the partition next loads each series' state from the store the first time it sees the series, so state follows its
partition without a fresh warm-up.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

from detectors.engine import DetectionEngine
from detectors.state import StateStore
from streams import metrics
from streams.config import Settings
from streams.pipeline import NS, Outcome, TelemetryPipeline


class DetectionService:
    def __init__(self, settings: Settings, store: StateStore | None,
                 clock: Callable[[], float] = time.monotonic, idle_after_s: float = 30.0) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._idle_after_s = idle_after_s
        self._last_event_at: dict[int, float] = {}
        self.pipelines: dict[int, TelemetryPipeline] = {}

    def _pipeline(self, partition: int) -> TelemetryPipeline:
        pipeline = self.pipelines.get(partition)
        if pipeline is None:
            engine = DetectionEngine(self._settings.detectors, store=self._store)
            pipeline = self.pipelines[partition] = TelemetryPipeline(engine, self._settings.kafka.max_message_bytes,
                                                                     ingest=self._settings.ingest)
        return pipeline

    def handle(self, raw: bytes, partition: int = 0) -> Outcome:
        pipeline = self._pipeline(partition)
        started = time.perf_counter()
        outcome = pipeline.handle(raw)
        metrics.HANDLE_SECONDS.observe(time.perf_counter() - started)
        metrics.MESSAGES.inc()
        metrics.DUPLICATES.inc(outcome.duplicates)
        metrics.INTERNAL_ERRORS.inc(outcome.internal_errors)
        if outcome.events:
            self._last_event_at[partition] = self._clock()
            metrics.EVENTS.inc(outcome.events)
            metrics.WATERMARK.set(max(p.watermark_ns for p in self.pipelines.values()) / NS)
        for rejection in outcome.rejections:
            metrics.REJECTED.labels(rejection.field or "message").inc()
        for record in outcome.anomalies:
            metrics.ANOMALIES.labels(record.get("kind", "")).inc()
        return outcome

    def advance_if_idle(self) -> list[dict]:
        """A partition with no event for a while lets its event time follow the wall clock, so silence is seen."""
        anomalies: list[dict] = []
        now = self._clock()
        for partition, pipeline in self.pipelines.items():
            idle = now - self._last_event_at.get(partition, now)
            if pipeline.watermark_ns and idle >= self._idle_after_s:
                self._last_event_at[partition] = now
                anomalies += pipeline.advance(pipeline.watermark_ns + int(idle * NS))
        return anomalies

    def checkpoint(self) -> int:
        written = sum(pipeline.engine.checkpoint() for pipeline in self.pipelines.values())
        metrics.CHECKPOINTS.inc(written)
        return written

    def hand_over(self, partitions: Iterable[int]) -> None:
        """Partitions were revoked: save what changed in them and forget them, to reload from the store later."""
        for partition in partitions:
            pipeline = self.pipelines.pop(partition, None)
            self._last_event_at.pop(partition, None)
            if pipeline is not None:
                metrics.CHECKPOINTS.inc(pipeline.engine.checkpoint())
