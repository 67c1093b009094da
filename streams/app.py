"""Builds the Faust ``App`` and the topics it uses; nothing else happens here.

Values are raw bytes: we decode JSON ourselves (orjson), because Faust's Record decoding costs several times more per
message and a message may hold a batch of events. The app id is the Kafka consumer group, so more workers with the
same config split the partitions between them: that is the whole scale-out story.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import faust

from inferwatch.streams.config import Settings
from inferwatch.streams.kafka_security import faust_credentials
from inferwatch.streams.republish import by_service_topic


@dataclass(frozen=True)
class Topics:
    telemetry: faust.TopicT
    anomalies: faust.TopicT
    dlq: faust.TopicT
    #: telemetry re-published keyed by service (streams/republish.py); same partition count as ``telemetry``
    by_service: faust.TopicT
    #: what the detection agent reads: ``telemetry`` and ``by_service`` (co-partitioned: partition N of both goes to
    #: one worker)
    detection_input: faust.TopicT
    #: OpenTelemetry spans from the Collector's Kafka exporter; None when ``kafka.otlp_topic`` is empty
    otlp: faust.TopicT | None = None


def broker_urls(bootstrap: str) -> str:
    """``host:port[,host:port]`` (what Kafka clients take) as Faust's ``kafka://`` URL list.

    >>> broker_urls("a:9092,b:9092")
    'kafka://a:9092;kafka://b:9092'
    """
    return ";".join(f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip())


def build_app(settings: Settings) -> tuple[faust.App, Topics]:
    kafka = settings.kafka
    app = faust.App(
        kafka.group_id,
        broker=broker_urls(kafka.bootstrap),
        broker_credentials=faust_credentials(kafka),  # every aiokafka client Faust makes (docs/secure-clusters.md)
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        # Faust makes a data dir even with in-memory tables; keep it out of the user's working directory
        datadir=os.path.join(tempfile.gettempdir(), f"inferwatch-faust-{kafka.group_id}"),
        autodiscover=False,
        web_enabled=False,
        topic_partitions=kafka.partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        producer_acks=-1,
        producer_max_request_size=max(kafka.max_message_bytes, 1_048_576),
        consumer_max_fetch_size=max(kafka.max_message_bytes, 1_048_576) * 4,
    )

    def raw_topic(*names: str) -> faust.TopicT:
        return app.topic(*names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                         partitions=kafka.partitions)

    by_service = by_service_topic(kafka.telemetry_topic)
    return app, Topics(raw_topic(kafka.telemetry_topic), raw_topic(kafka.anomalies_topic), raw_topic(kafka.dlq_topic),
                       by_service=raw_topic(by_service),
                       detection_input=raw_topic(kafka.telemetry_topic, by_service),
                       otlp=raw_topic(kafka.otlp_topic) if kafka.otlp_topic else None)
