"""Creating inferwatch's topics up front, with the configured partition count.

Faust declares the topics it consumes when a worker starts, but producers may start first, and a broker that
auto-creates topics would give them its default of one partition, which caps scale-out at one worker.
"""
from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from streams.config import KafkaSettings


def ensure_topics(kafka: KafkaSettings, timeout_s: float = 30.0) -> list[str]:
    """Create any missing topic; returns the names created. Existing topics are left as they are."""
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [kafka.telemetry_topic, kafka.anomalies_topic, kafka.dlq_topic]
    missing = [NewTopic(name, num_partitions=kafka.partitions, replication_factor=-1)
               for name in wanted if name not in existing]
    created = []
    for name, future in (admin.create_topics(missing, operation_timeout=timeout_s).items() if missing else []):
        try:
            future.result(timeout_s)
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return created
