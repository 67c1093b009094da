"""Counters of the escalation engine, on an injected registry (a fresh one by default, so instances never clash).

>>> m = AlertingMetrics()
>>> m.errors.labels(reason="redis").inc()
>>> m.registry.get_sample_value("inferwatch_alerting_errors_total", {"reason": "redis"})
1.0
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class AlertingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.errors = Counter("inferwatch_alerting_errors", "Failures inside the escalation engine, by reason",
                              ["reason"], registry=self.registry)
        self.records = Counter("inferwatch_alerting_records", "Anomaly records ingested, by outcome", ["outcome"],
                               registry=self.registry)
        self.deliveries = Counter("inferwatch_alerting_deliveries", "Outbox deliveries, by target and outcome",
                                  ["target", "outcome"], registry=self.registry)
