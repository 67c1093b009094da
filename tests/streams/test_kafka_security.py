"""Through a real broker with a SASL_SSL listener and an mTLS listener (tests/conftest.py ``secure_kafka``): our
producer helper and the worker's Faust/aiokafka clients reach it from ``KafkaSettings`` alone, and a wrong password
fails at once with one clear line."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import aiokafka
import pytest
import yaml
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from inferwatch.streams.config import KafkaSettings
from inferwatch.streams.kafka_security import KafkaAccessError, client_config, faust_credentials
from inferwatch.streams.producer import TelemetryProducer
from inferwatch.streams.topics import ensure_topics

pytestmark = pytest.mark.kafka


def sasl_settings(secure_kafka, mechanism: str = "SCRAM-SHA-512", user: str = "alice", password: str | None = None,
                  **extra) -> KafkaSettings:
    run = uuid.uuid4().hex[:8]
    return KafkaSettings(bootstrap=secure_kafka.sasl_ssl_bootstrap, security_protocol="SASL_SSL",
                         sasl_mechanism=mechanism, sasl_username=user,
                         sasl_password=secure_kafka.users[user] if password is None else password,
                         ssl_ca_file=str(secure_kafka.ca_file), telemetry_topic=f"sec-{run}.telemetry",
                         anomalies_topic=f"sec-{run}.anomalies", dlq_topic=f"sec-{run}.dlq", group_id=f"g-{run}",
                         partitions=1, **extra)


def consume_with_faust_credentials(kafka: KafkaSettings, count: int) -> list[bytes]:
    """Read ``count`` messages with an aiokafka consumer given exactly what our Faust app gives aiokafka."""
    async def read() -> list[bytes]:
        consumer = aiokafka.AIOKafkaConsumer(
            kafka.telemetry_topic, bootstrap_servers=kafka.bootstrap, group_id=kafka.group_id,
            auto_offset_reset="earliest", **credentials_to_aiokafka_auth(faust_credentials(kafka)))
        await consumer.start()
        try:
            values: list[bytes] = []
            while len(values) < count:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 60)
                values += [message.value for messages in batch.values() for message in messages]
            return values
        finally:
            await consumer.stop()

    return asyncio.run(read())


def publish(kafka: KafkaSettings, events: list[dict]) -> TelemetryProducer:
    producer = TelemetryProducer(kafka.bootstrap, kafka.telemetry_topic, batch_size=1, config=client_config(kafka))
    for event in events:
        producer.send(event)
    producer.flush(timeout=30)
    return producer


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_producer_helper_and_faust_consumer_reach_a_sasl_ssl_cluster(secure_kafka, mechanism):
    kafka = sasl_settings(secure_kafka, mechanism)
    ensure_topics(kafka)
    events = [{"event.id": f"e{i}", "service.name": "checkout"} for i in range(3)]
    assert publish(kafka, events).delivered == 3
    assert sorted(consume_with_faust_credentials(kafka, 3)) == sorted(
        b'{"event.id":"e%d","service.name":"checkout"}' % i for i in range(3))


def test_client_certificate_reaches_an_mtls_listener(secure_kafka):
    kafka = KafkaSettings(bootstrap=secure_kafka.mtls_bootstrap, security_protocol="SSL",
                          ssl_ca_file=str(secure_kafka.ca_file), ssl_cert_file=str(secure_kafka.client_cert_file),
                          ssl_key_file=str(secure_kafka.client_key_file), telemetry_topic=f"mtls-{uuid.uuid4().hex}",
                          group_id=f"g-{uuid.uuid4().hex}", partitions=1)
    ensure_topics(kafka)
    assert publish(kafka, [{"event.id": "m1"}]).delivered == 1
    assert consume_with_faust_credentials(kafka, 1) == [b'{"event.id":"m1"}']


def test_mtls_listener_without_client_certificate_fails_fast(secure_kafka):
    kafka = KafkaSettings(bootstrap=secure_kafka.mtls_bootstrap, security_protocol="SSL",
                          ssl_ca_file=str(secure_kafka.ca_file))
    with pytest.raises(KafkaAccessError, match=r"^Kafka TLS handshake failed at 127\.0\.0\.1:\d+ \(SSL\)"):
        ensure_topics(kafka, timeout_s=30)


def test_wrong_password_fails_fast_with_one_line_and_no_secret(secure_kafka):
    kafka = sasl_settings(secure_kafka, password="not-the-password")
    with pytest.raises(KafkaAccessError) as raised:
        publish(kafka, [{"event.id": "x"}])
    message = str(raised.value)
    assert message.startswith(f"Kafka authentication failed for user alice at {kafka.bootstrap} "
                              "(SASL_SSL SCRAM-SHA-512): ")
    assert "\n" not in message and "not-the-password" not in message


def test_worker_with_wrong_password_exits_with_one_clear_line(secure_kafka, tmp_path):
    """``inferwatch worker`` as a user runs it: the password from the environment, the rest from YAML."""
    kafka = sasl_settings(secure_kafka, password="")
    section = {name: getattr(kafka, name) for name in ("bootstrap", "security_protocol", "sasl_mechanism",
                                                       "sasl_username", "ssl_ca_file", "telemetry_topic")}
    config = tmp_path / "inferwatch.yaml"
    config.write_text(yaml.safe_dump({"kafka": section, "redis": {"url": "redis://127.0.0.1:1/0"}}))
    proc = subprocess.run([sys.executable, "-m", "inferwatch.streams.cli", "--config", str(config), "worker"],
                          env={"INFERWATCH_KAFKA_SASL_PASSWORD": "wrong-password-123", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"inferwatch: error: Kafka authentication failed for user alice at {kafka.bootstrap} "
                           "(SASL_SSL SCRAM-SHA-512)")
    assert "wrong-password-123" not in proc.stderr and "Traceback" not in proc.stderr


def test_password_file_is_read_and_never_shown(secure_kafka, tmp_path):
    secret = tmp_path / "password"
    secret.write_text(secure_kafka.users["bob"] + "\n")
    kafka = sasl_settings(secure_kafka, user="bob", password="", sasl_password_file=str(secret))
    ensure_topics(kafka)
    assert publish(kafka, [{"event.id": "f1"}]).delivered == 1
    assert secure_kafka.users["bob"] not in repr(kafka)


def test_sasl_without_username_is_a_config_error():
    from inferwatch.streams.config import ConfigError, settings_from_mapping

    with pytest.raises(ConfigError, match="sasl_username is required with security_protocol SASL_SSL"):
        settings_from_mapping({"kafka": {"security_protocol": "SASL_SSL"}})
