"""The detection side of a worker: one pipeline per assigned partition, and the checkpoint store behind them.

Why one pipeline (engine + event-time watermark) per partition: every event of a series lands on one partition
(messages are keyed by service), and partitions advance in event time independently. A watermark shared across
partitions would let a fast partition declare a slow one's series silent. Per partition, the online worker runs
exactly the sequence ``inferwatch replay`` runs over that partition's messages.

Checkpoints and offsets move together (docs/faults.md, case 4): a checkpoint is *staged* (the state, in memory) when
no message is half-handled, *saved* once Kafka has every record that state emitted, and only the messages a saved
checkpoint covers may have their offsets committed (``streams.agents``). So a worker SIGKILLed at any moment leaves
a committed offset at or before its checkpoint: the next owner redelivers what the checkpoint already holds (each
restored series skips events up to its last event time), never misses events the checkpoint lacks, and never
restores an alert whose record did not reach Kafka.

When partitions are revoked, this worker checkpoints what changed and parks those pipelines; a partition assigned
back to it in the same rebalance carries on with its pipeline (nobody else consumed it meanwhile), any other is
dropped, and whichever worker gets it loads each series' state from the store the first time it sees the series,
so state follows its partition without a fresh warm-up.

The store failing never stops detection: a checkpoint that cannot be saved is logged and counted, and its series are
kept for the next interval (the engine forgets nothing); one that cannot be loaded starts its series afresh.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

from inferwatch.detectors.contract import NS
from inferwatch.detectors.engine import DetectionEngine
from inferwatch.detectors.state import StateStore
from inferwatch.streams import metrics
from inferwatch.streams.checkpoints import StagedStore
from inferwatch.streams.config import Settings
from inferwatch.streams.llm_metrics import LlmMetrics
from inferwatch.streams.pipeline import Outcome, TelemetryPipeline
from inferwatch.streams.signal_metrics import SignalMetrics

log = logging.getLogger(__name__)


def count_guard(what: str, n: int) -> None:
    """The engine's ``on_count``: its guards (caps, repairs, unloadable checkpoints) as a Prometheus counter."""
    metrics.ENGINE_GUARDS.labels(what).inc(n)


class ObservedEngine:
    """The engine, with every event it takes also counted into the LLM metrics: the pipeline hands it exactly the
    valid, non-duplicate events, the ones the dashboard should count. Anything else is the engine's own."""

    def __init__(self, engine: DetectionEngine, observe: Callable[[dict], None]) -> None:
        self.engine = engine
        self.observe = observe

    def process(self, event: dict) -> list[dict]:
        records = self.engine.process(event)
        self.observe(event)
        return records

    def __getattr__(self, name: str):
        return getattr(self.engine, name)


class DetectionService:
    def __init__(self, settings: Settings, store: StateStore | None,
                 clock: Callable[[], float] = time.monotonic, idle_after_s: float = 30.0,
                 llm: LlmMetrics | None = None, signals: SignalMetrics | None = None) -> None:
        """``llm`` and ``signals`` (the dashboard's metrics, off when None) are given by the worker, which owns the
        registry they are on."""
        self._settings = settings
        self._store = store
        self._clock = clock
        self._idle_after_s = idle_after_s
        self._last_event_at: dict[int, float] = {}
        self.pipelines: dict[int, TelemetryPipeline] = {}
        #: pipelines of partitions revoked in the rebalance under way, until ``resume`` says which came back
        self._parked: dict[int, TelemetryPipeline] = {}
        self._llm = llm
        self._signals = signals

    def _pipeline(self, partition: int) -> TelemetryPipeline:
        pipeline = self.pipelines.get(partition)
        if pipeline is None:
            store = StagedStore(self._store) if self._store is not None else None
            engine = DetectionEngine(self._settings.detectors, store=store, on_count=count_guard,
                                     future_skew_s=self._settings.ingest.max_future_skew_s)
            if self._llm is not None:
                engine = ObservedEngine(engine, self._llm.observe)
            pipeline = self.pipelines[partition] = TelemetryPipeline(engine, self._settings.kafka.max_message_bytes,
                                                                     ingest=self._settings.ingest)
        return pipeline

    def handle(self, raw: bytes, partition: int = 0) -> Outcome:
        pipeline = self._pipeline(partition)
        started = time.perf_counter()
        outcome = pipeline.handle(raw)
        metrics.HANDLE_SECONDS.observe(time.perf_counter() - started)
        metrics.MESSAGES.inc()
        if outcome.duplicates:  # a counter's inc takes a lock: not for nothing on every message
            metrics.DUPLICATES.inc(outcome.duplicates)
        if outcome.internal_errors:
            metrics.INTERNAL_ERRORS.inc(outcome.internal_errors)
        if outcome.events:
            self._last_event_at[partition] = self._clock()
            metrics.EVENTS.inc(outcome.events)
            metrics.WATERMARK.set(max(p.watermark_ns for p in self.pipelines.values()) / NS)
        for rejection in outcome.rejections:
            metrics.REJECTED.labels(metrics.rejected_field(rejection.field)).inc()
        metrics.observe_records(outcome.anomalies)
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
        metrics.observe_records(anomalies)
        return anomalies

    def export_signals(self) -> int:
        """Refresh the baseline and score gauges from every partition's engine (on the agents' loop, which is the
        thread that changes them); returns how many series they show."""
        return self._signals.update(p.engine for p in self.pipelines.values()) if self._signals is not None else 0

    def stage(self) -> None:
        """Take what changed in every partition into its staged checkpoint (no I/O). Call it when no message is
        half-handled: everything the staged state emitted has then been handed to the producer."""
        for pipeline in self.pipelines.values():
            pipeline.engine.checkpoint()

    def save(self) -> tuple[int, set[int]]:
        """Write every partition's staged checkpoint; returns how many series were written and the partitions whose
        save failed (they keep what they staged for the next call)."""
        written, failed = 0, set()
        for partition, pipeline in self.pipelines.items():
            saved = self._save(partition, pipeline, "interval")
            if saved is None:
                failed.add(partition)
            else:
                written += saved
        return written, failed

    def checkpoint(self) -> int:
        """Stage and save at once, for callers with no record in flight; returns how many series were saved."""
        self.stage()
        return self.save()[0]

    def _save(self, partition: int, pipeline: TelemetryPipeline, when: str) -> int | None:
        store = pipeline.engine.store
        if store is None:
            return 0
        try:
            written = store.write()
        except Exception as exc:  # the boundary to the store: detection goes on whatever it raises
            metrics.CHECKPOINT_FAILURES.labels(when).inc()
            log.warning("checkpoint of partition %d failed (%s: %s)%s", partition, type(exc).__name__, exc,
                        "; its changed series are kept for the next one" if when == "interval" else
                        "; its changes since the last checkpoint are lost, the next owner resumes from that one")
            return None
        metrics.CHECKPOINTS.inc(written)
        return written

    def hand_over(self, partitions: Iterable[int]) -> None:
        """Partitions were revoked (every record sent is in Kafka by then): save what changed in them and park them
        until ``resume``."""
        for partition in partitions:
            pipeline = self.pipelines.pop(partition, None)
            self._last_event_at.pop(partition, None)
            if pipeline is not None:
                pipeline.engine.checkpoint()
                self._save(partition, pipeline, "hand-over")
                self._parked[partition] = pipeline

    def resume(self, partitions: Iterable[int]) -> None:
        """The rebalance assigned ``partitions``: those parked carry on with their pipeline, exactly where they
        stopped; the rest are forgotten, to be reloaded from the store if they come back later."""
        assigned = set(partitions)
        self.pipelines.update((p, pipeline) for p, pipeline in self._parked.items() if p in assigned)
        self._parked.clear()
