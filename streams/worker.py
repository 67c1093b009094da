"""``inferwatch worker``: run the detection and/or escalation agents against Kafka and Redis.

Run several with the same config to scale out: they join one consumer group and split the partitions.
"""
from __future__ import annotations

import argparse
import logging

import faust
from prometheus_client import start_http_server

from inferwatch.detectors.registry import emitted_signals
from inferwatch.streams.agents import add_detection, add_escalation
from inferwatch.streams.app import build_app
from inferwatch.streams.checkpoints import checkpoint_store
from inferwatch.streams.config import Settings
from inferwatch.streams.detection import DetectionService
from inferwatch.streams.llm_metrics import LlmMetrics
from inferwatch.streams.metrics import METRIC_SERIES_DROPPED, REGISTRY, initialize_anomalies
from inferwatch.streams.otlp_agent import add_otlp_conversion
from inferwatch.streams.signal_metrics import SignalMetrics
from inferwatch.streams.topics import ensure_topics

ROLES = ("all", "detect", "escalate")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="run the streaming pipeline (Faust worker)")
    parser.add_argument("--role", choices=ROLES, default="all",
                        help="detect: telemetry -> anomalies; escalate: anomalies -> pages; all: both (default)")
    parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port (0: off)")
    parser.set_defaults(run=run)


def build_worker_app(settings: Settings, role: str = "all") -> faust.App:
    app, topics = build_app(settings)
    if role in ("all", "detect"):
        initialize_anomalies(emitted_signals(settings.detectors))
        llm = LlmMetrics(REGISTRY, settings.detectors.stages, dropped=METRIC_SERIES_DROPPED)
        signals = SignalMetrics(REGISTRY, dropped=METRIC_SERIES_DROPPED)
        add_detection(app, topics, DetectionService(settings, checkpoint_store(settings), llm=llm, signals=signals),
                      settings)
        add_otlp_conversion(app, topics, settings)
    if role in ("all", "escalate"):
        from inferwatch.alerting.service import AlertingService

        alerting = AlertingService.from_settings(settings.alerting, settings.redis.url, registry=REGISTRY,
                                                 redis_options=settings.redis.client_options())
        alerting.metrics.watch_active(alerting.store.active_alerts)
        add_escalation(app, topics, alerting)
    return app


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.metrics_port:
        start_http_server(args.metrics_port, registry=REGISTRY)
    ensure_topics(settings.kafka)  # Faust does not subscribe to a source topic that does not exist yet
    app = build_worker_app(settings, args.role)
    worker = faust.Worker(app, loglevel=logging.getLevelName(logging.getLogger().level), quiet=True,
                          redirect_stdouts=False)
    worker.spinner = None  # its cursor escape codes would garble the console/outbox notifier's lines
    worker.execute_from_commandline()
    return 0
