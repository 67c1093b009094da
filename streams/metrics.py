"""Prometheus metrics of the worker, defined once so every module counts into the same series.

They live in their own ``CollectorRegistry`` (not the process-global default), so tests and several pipelines in one
process can read them without clashes; ``inferwatch worker --metrics-port`` serves it.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS = Counter("inferwatch_events_total", "Valid telemetry events processed", registry=REGISTRY)
MESSAGES = Counter("inferwatch_messages_total", "Kafka messages consumed from the telemetry topic", registry=REGISTRY)
REJECTED = Counter("inferwatch_events_rejected_total", "Invalid telemetry sent to the dead-letter topic",
                   ["field"], registry=REGISTRY)
DUPLICATES = Counter("inferwatch_events_duplicate_total",
                     "Valid events dropped because their event.id was seen within the dedup window", registry=REGISTRY)
INTERNAL_ERRORS = Counter("inferwatch_internal_errors_total",
                          "Exceptions caught by the per-event or per-message barrier (the input is dead-lettered)",
                          registry=REGISTRY)
ANOMALIES = Counter("inferwatch_anomalies_total", "Anomaly records published", ["kind"], registry=REGISTRY)
CHECKPOINTS = Counter("inferwatch_checkpoints_total", "Series states written to the checkpoint store",
                      registry=REGISTRY)
CHECKPOINT_REJECTED = Counter("inferwatch_checkpoints_rejected_total",
                              "Checkpoints ignored because their signature did not verify", registry=REGISTRY)
WATERMARK = Gauge("inferwatch_event_time_watermark_seconds", "Largest event time seen by this worker",
                  registry=REGISTRY)
HANDLE_SECONDS = Histogram("inferwatch_message_handle_seconds", "Time to validate and score one Kafka message",
                           registry=REGISTRY, buckets=(1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 1.0))
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
