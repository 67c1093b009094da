"""Metrics of the escalation engine, on an injected registry (a fresh one by default, so instances never clash).

``watch_active`` adds the active alerts by state and severity, read from the alert store when scraped (the store is
the truth shared by every worker, so each worker reports the same numbers: aggregate them with ``max``, not ``sum``).

>>> m = AlertingMetrics()
>>> m.errors.labels(reason="redis").inc()
>>> m.registry.get_sample_value("inferwatch_alerting_errors_total", {"reason": "redis"})
1.0
>>> class Alert:
...     state, severity = "firing", "critical"
>>> m.watch_active(lambda: [Alert()])
>>> m.registry.get_sample_value("inferwatch_alerting_active_alerts", {"state": "firing", "severity": "critical"})
1.0
>>> m.registry.get_sample_value("inferwatch_alerting_active_alerts", {"state": "pending", "severity": "warning"})
0.0
"""
from __future__ import annotations

import logging
from collections import Counter as Tally
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from inferwatch.alerting.alert import ACTIVE_STATES
from inferwatch.detectors.contract import SEVERITIES  # the record contract (a leaf module)

log = logging.getLogger(__name__)

#: seconds from an alert's episode opening to its first page delivered
FIRST_PAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class AlertingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.errors = Counter("inferwatch_alerting_errors", "Failures inside the escalation engine, by reason",
                              ["reason"], registry=self.registry)
        self.records = Counter("inferwatch_alerting_records", "Anomaly records ingested, by outcome", ["outcome"],
                               registry=self.registry)
        self.deliveries = Counter("inferwatch_alerting_deliveries", "Outbox deliveries, by target and outcome",
                                  ["target", "outcome"], registry=self.registry)
        self.first_page = Histogram("inferwatch_alerting_record_to_first_page_seconds",
                                    "From an alert's episode opening (its firing record ingested) to its first page "
                                    "delivered to a target", ["target"], buckets=FIRST_PAGE_BUCKETS,
                                    registry=self.registry)

    def guard(self, what: str, fp: str, fn: Callable[[], Any]) -> None:
        """Run ``fn`` for one alert: an error never stops the others (nor the caller); log with context, count by
        reason (``inferwatch_alerting_errors_total{reason="<what>:<error type>"}``)."""
        try:
            fn()
        except Exception as exc:
            log.exception("alerting %s failed for alert %s", what, fp)
            self.errors.labels(reason=f"{what}:{type(exc).__name__}").inc()

    def watch_active(self, active_alerts: Callable[[], list[Any]]) -> None:
        """Export ``inferwatch_alerting_active_alerts{state, severity}``, counting ``active_alerts()`` per scrape."""
        self.registry.register(_ActiveAlerts(active_alerts))


class _ActiveAlerts:
    def __init__(self, active_alerts: Callable[[], list[Any]]) -> None:
        self.active_alerts = active_alerts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("inferwatch_alerting_active_alerts", "Unresolved alerts in the store, by state "
                                   "and severity (the same for every worker)", labels=["state", "severity"])
        try:
            tally = Tally((alert.state, alert.severity) for alert in self.active_alerts())
        except Exception as exc:  # the store unreachable: no sample rather than a wrong zero, and the scrape goes on
            log.warning("active alerts not exported: %s: %s", type(exc).__name__, exc)
            return
        # every (active state, severity) pair is always exported, 0 included
        for pair in sorted({*((s, v) for s in ACTIVE_STATES for v in SEVERITIES), *tally}):
            family.add_metric(list(pair), float(tally.get(pair, 0)))
        yield family

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("inferwatch_alerting_active_alerts", "", labels=["state", "severity"])]
