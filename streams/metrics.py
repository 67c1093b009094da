"""Prometheus metrics of the worker about itself, defined once so every module counts into the same series.

They live in their own ``CollectorRegistry`` (not the process-global default), so tests and several pipelines in one
process can read them without clashes; ``inferwatch worker --metrics-port`` serves it, with the process, platform
and garbage-collector collectors and ``inferwatch_build_info`` on it too. The LLM traffic itself (latency, errors,
tokens, cost per series) is ``streams.llm_metrics``; the detectors' baselines and scores, ``streams.signal_metrics``.
Every name, label and cardinality bound is listed in docs/dashboard.md.

>>> rejected_field("gen_ai.request.model"), rejected_field("app.stage.anything.duration"), rejected_field(None)
('gen_ai.request.model', 'other', 'message')
>>> rejected_field("app.evaluation.results[7].gen_ai.evaluation.name")
'app.evaluation.results'
"""
from __future__ import annotations

import math
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Callable, Iterable

from prometheus_client import (CollectorRegistry, Counter, GCCollector, Gauge, Histogram, Info, PlatformCollector,
                               ProcessCollector)

from inferwatch.streams.schema import COMMON_REQUIRED, OPTIONAL, REQUIRED

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

#: the ``field`` label of rejections: the schema's own fields, ``message`` (the whole message: not JSON, too big...)
#: and ``other`` (any other name, e.g. an ``app.stage.<name>.duration``), so a producer cannot mint label values
REJECTED_FIELDS = frozenset({*COMMON_REQUIRED, *(name for fields in REQUIRED.values() for name in fields), *OPTIONAL,
                             "event.kind"})
#: delay buckets (seconds) from an event to its anomaly record, and from a record to its first page
DELAY_BUCKETS = (0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


def _version() -> str:
    try:
        return version("inferwatch")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


BUILD = Info("inferwatch_build", "Version of inferwatch and of the Python running it", registry=REGISTRY)
BUILD.info({"version": _version(), "python": platform.python_version()})

EVENTS = Counter("inferwatch_events_total", "Valid telemetry events processed", registry=REGISTRY)
MESSAGES = Counter("inferwatch_messages_total", "Kafka messages consumed from the telemetry topic", registry=REGISTRY)
REJECTED = Counter("inferwatch_events_rejected_total", "Invalid telemetry sent to the dead-letter topic, by the "
                   "field at fault (a fixed set: see rejected_field)", ["field"], registry=REGISTRY)
REPARTITIONED = Counter("inferwatch_messages_repartitioned_total",
                        "Telemetry messages not on their service's partition, re-published per service to the "
                        "by-service topic (streams.republish)", registry=REGISTRY)
DUPLICATES = Counter("inferwatch_events_duplicate_total",
                     "Valid events dropped because their event.id was seen within the dedup window", registry=REGISTRY)
INTERNAL_ERRORS = Counter("inferwatch_internal_errors_total",
                          "Exceptions caught by the per-event or per-message barrier (the input is dead-lettered)",
                          registry=REGISTRY)
ANOMALIES = Counter("inferwatch_anomalies_total", "Anomaly records published, by kind, signal, severity and status "
                    "(firing/resolved); all four come from the detectors, never from events",
                    ["kind", "signal", "severity", "status"], registry=REGISTRY)
CHECKPOINTS = Counter("inferwatch_checkpoints_total", "Series states written to the checkpoint store",
                      registry=REGISTRY)
CHECKPOINT_REJECTED = Counter("inferwatch_checkpoints_rejected_total",
                              "Checkpoints ignored because their signature did not verify", registry=REGISTRY)
WATERMARK = Gauge("inferwatch_event_time_watermark_timestamp_seconds",
                  "Largest event time seen by this worker (seconds since the epoch)", registry=REGISTRY)
EVENT_TIME_LAG = Gauge("inferwatch_event_time_lag_seconds", "Wall clock minus the event-time watermark, computed "
                       "when scraped (NaN before the first event): grows while traffic or the worker stalls",
                       registry=REGISTRY)
HANDLE_SECONDS = Histogram("inferwatch_message_handle_seconds", "Time to validate and score one Kafka message",
                           registry=REGISTRY, buckets=(1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 1.0))
EVENT_TO_RECORD = Histogram("inferwatch_event_to_record_seconds", "Wall clock when an anomaly record is published "
                            "minus the event time its window ends at: how late detection speaks (bucket, lateness "
                            "and pipeline delay; replayed old data lands in +Inf)", buckets=DELAY_BUCKETS,
                            registry=REGISTRY)
CONSUMER_LAG = Gauge("inferwatch_consumer_lag_messages", "Messages between the last one handled and the end of each "
                     "assigned partition", ["topic", "partition"], registry=REGISTRY)
ESCALATION_AGENT_ERRORS = Counter("inferwatch_escalation_agent_errors_total",
                                  "Failures around the escalation engine caught in the agent, so detection keeps running",
                                  ["stage"], registry=REGISTRY)
CHECKPOINT_FAILURES = Counter("inferwatch_checkpoint_failures_total",
                              "Checkpoints that could not be saved (the changed series are kept for the next one), "
                              "by when: interval, or hand-over of revoked partitions (that state is lost)",
                              ["when"], registry=REGISTRY)
ENGINE_GUARDS = Counter("inferwatch_engine_guards_total",
                        "Times the detection engine protected itself, by what: series_overflow_events, "
                        "series_cap_reached, state_repaired, checkpoint_load_failed", ["what"], registry=REGISTRY)
METRIC_SERIES_DROPPED = Counter("inferwatch_metric_series_dropped_total",
                                "Observations left out of the metrics because their label set was over the cap "
                                "(metrics.max_series), by family: llm (one per event), signals (one per series and "
                                "export)", ["family"], registry=REGISTRY)

for _family in ("llm", "signals"):  # both always exported, so a dashboard or rule sees 0 rather than no data
    METRIC_SERIES_DROPPED.labels(_family)


def _event_time_lag() -> float:
    watermark = WATERMARK.collect()[0].samples[0].value
    return time.time() - watermark if watermark else math.nan


EVENT_TIME_LAG.set_function(_event_time_lag)


def initialize_anomalies(pairs: Iterable[tuple[str, str]]) -> None:
    """Export every ``(kind, signal)`` the detectors can emit at 0, per severity and status, so the first record of
    each shows as an increase (Prometheus sees none in a series that appears already at 1)."""
    for kind, signal in pairs:
        for severity in ("warning", "critical"):
            for status in ("firing", "resolved"):
                ANOMALIES.labels(kind, signal, severity, status)


def rejected_field(name: str | None) -> str:
    """The ``field`` label of a rejection: a name from the schema, ``message``, or ``other``."""
    if name is None:
        return "message"
    base = name.split("[", 1)[0]
    return base if base in REJECTED_FIELDS else "other"


class ConsumerLag:
    """Per assigned partition, how far the last handled message is from the partition's end (its high watermark).

    The agent notes each offset it handles; a timer calls ``update`` with the consumer's high watermarks. Partitions
    no longer assigned drop out of the gauge, so a rebalance leaves no stale series behind.

    >>> lag = ConsumerLag(Gauge("lag_example", "", ["topic", "partition"], registry=None))
    >>> lag.handled("t", 0, 41)
    >>> lag.update({("t", 0): 50, ("t", 1): 7})
    {('t', 0): 8}
    """

    def __init__(self, gauge: Gauge = CONSUMER_LAG) -> None:
        self.gauge = gauge
        self._next: dict[tuple[str, int], int] = {}
        self._shown: set[tuple[str, int]] = set()

    def handled(self, topic: str, partition: int, offset: int) -> None:
        self._next[(topic, partition)] = offset + 1

    def update(self, highwaters: dict[tuple[str, int], int | None]) -> dict[tuple[str, int], int]:
        """Set the gauge from ``{(topic, partition): high watermark}`` of the assigned partitions; returns the lags
        (a partition with no message handled yet, or no known end, is left out)."""
        lags = {tp: max(0, end - self._next[tp]) for tp, end in highwaters.items()
                if end is not None and tp in self._next}
        for tp in self._shown - set(lags):
            self.gauge.remove(tp[0], str(tp[1]))
        for (topic, partition), lag in lags.items():
            self.gauge.labels(topic, str(partition)).set(lag)
        self._shown = set(lags)
        for tp in set(self._next) - set(highwaters):
            del self._next[tp]
        return lags


def faust_highwaters(consumer: object, topics: Iterable[str]) -> dict[tuple[str, int], int | None]:
    """``{(topic, partition): high watermark}`` of the Faust consumer's assigned partitions of ``topics``."""
    wanted = set(topics)
    return {(tp.topic, tp.partition): consumer.highwater(tp)  # type: ignore[attr-defined]
            for tp in consumer.assignment() if tp.topic in wanted}  # type: ignore[attr-defined]


def observe_records(records: list[dict], clock: Callable[[], float] = time.time) -> None:
    """Count published anomaly records and how late each came after the end of its window."""
    now = clock()
    for record in records:
        ANOMALIES.labels(record.get("kind", ""), record.get("signal", ""), record.get("severity", ""),
                         record.get("status", "firing")).inc()
        t = record.get("time_unix_nano")
        if isinstance(t, int):
            EVENT_TO_RECORD.observe(max(0.0, now - t / 1e9))
