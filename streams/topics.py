"""Creating inferwatch's topics up front, with the configured partition count.

Faust declares the topics it consumes when a worker starts, but producers may start first, and a broker that
auto-creates topics would give them its default of one partition, which caps scale-out at one worker. The internal
by-service topic (streams/republish.py) gets the telemetry topic's partition count, whatever made that topic.
"""
from __future__ import annotations

import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from inferwatch.streams.config import KafkaSettings
from inferwatch.streams.kafka_security import client_config, list_topics_or_fail, watched
from inferwatch.streams.republish import by_service_topic


def ensure_topics(kafka: KafkaSettings, timeout_s: float = 30.0) -> list[str]:
    """Create any missing topic; returns the names created. Existing topics are left as they are.

    Also the worker's first contact with the cluster: a refused login raises ``KafkaAccessError`` at once."""
    config, watch = watched(client_config(kafka))
    admin = AdminClient(config)
    existing = list_topics_or_fail(admin, watch, timeout_s).topics
    by_service = by_service_topic(kafka.telemetry_topic)
    wanted = [kafka.telemetry_topic, by_service, kafka.anomalies_topic, kafka.dlq_topic]
    wanted += [kafka.otlp_topic] if kafka.otlp_topic else []
    partitions = {name: kafka.partitions for name in wanted}
    if kafka.telemetry_topic in existing:  # the by-service topic mirrors the telemetry topic (co-partitioned)
        partitions[by_service] = len(existing[kafka.telemetry_topic].partitions)
        if by_service in existing and len(existing[by_service].partitions) != partitions[by_service]:
            raise ValueError(f"topic {by_service} has {len(existing[by_service].partitions)} partitions and "
                             f"{kafka.telemetry_topic} {partitions[by_service]}: they must match (one series, one "
                             f"worker); recreate {by_service} with {partitions[by_service]}")
    missing = [NewTopic(name, num_partitions=partitions[name], replication_factor=-1)
               for name in wanted if name not in existing]
    created = []
    for name, future in (admin.create_topics(missing, operation_timeout=timeout_s).items() if missing else []):
        try:
            future.result(timeout_s)
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    wait_for_leaders(admin, wanted, timeout_s)
    return created


def wait_for_leaders(admin: AdminClient, topics: list[str], timeout_s: float) -> None:
    """A new topic answers NOT_LEADER until every partition has a leader; wait for that instead of failing."""
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = admin.list_topics(timeout=timeout_s).topics
        ready = all(name in metadata and metadata[name].error is None and metadata[name].partitions
                    and all(p.leader >= 0 and p.error is None for p in metadata[name].partitions.values())
                    for name in topics)
        if ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {topics} have partitions without a leader after {timeout_s}s")
        time.sleep(0.1)
