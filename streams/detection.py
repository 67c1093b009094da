"""The detection side of a worker: one pipeline, its engine, and the checkpoint store the engine's state lives in.

It owns the one policy that is not per message: when this worker loses partitions, every series it held may now
belong to another worker, so it checkpoints what changed and starts from an empty engine whose series reload their
state from the store the next time they are seen. The new owner of a partition does the same on first sight, so a
key's state follows its partition without a fresh warm-up.
"""
from __future__ import annotations

import time
from typing import Callable

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
        self._last_event_at = clock()
        self.pipeline = self._new_pipeline()

    def _new_pipeline(self) -> TelemetryPipeline:
        engine = DetectionEngine(self._settings.detectors, store=self._store)
        return TelemetryPipeline(engine, self._settings.kafka.max_message_bytes)

    def handle(self, raw: bytes) -> Outcome:
        started = time.perf_counter()
        outcome = self.pipeline.handle(raw)
        metrics.HANDLE_SECONDS.observe(time.perf_counter() - started)
        metrics.MESSAGES.inc()
        if outcome.events:
            self._last_event_at = self._clock()
            metrics.EVENTS.inc(outcome.events)
            metrics.WATERMARK.set(self.pipeline.watermark_ns / NS)
        for rejection in outcome.rejections:
            metrics.REJECTED.labels(rejection.field or "message").inc()
        for record in outcome.anomalies:
            metrics.ANOMALIES.labels(record.get("kind", "")).inc()
        return outcome

    def advance_if_idle(self) -> list[dict]:
        """When no event arrived for a while, let event time follow the wall clock so silence is still detected."""
        idle = self._clock() - self._last_event_at
        if self.pipeline.watermark_ns == 0 or idle < self._idle_after_s:
            return []
        self._last_event_at = self._clock()
        return self.pipeline.advance(self.pipeline.watermark_ns + int(idle * NS))

    def checkpoint(self) -> int:
        written = self.pipeline.engine.checkpoint()
        metrics.CHECKPOINTS.inc(written)
        return written

    def hand_over(self) -> None:
        """Partitions were revoked: save what changed and forget every series, to reload from the store later."""
        self.checkpoint()
        watermark = self.pipeline.watermark_ns
        self.pipeline = self._new_pipeline()
        self.pipeline.watermark_ns = watermark
