"""The local stack works for real: messages go through the broker, Redis answers, and ``scripts/stack.sh`` is
idempotent, keeps its data across restarts and refuses a port that another process holds."""
from __future__ import annotations

import socket
import time

import pytest
import redis
from confluent_kafka import Consumer, KafkaException, Producer

CONSUME_TIMEOUT_S = 30


def produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    errors: list = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, key=key, value=value, on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(CONSUME_TIMEOUT_S) == 0
    assert errors == [None]


def consume_first(bootstrap: str, topic: str) -> tuple[bytes, bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{topic}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            return message.key(), message.value()
    finally:
        consumer.close()
    pytest.fail(f"no message on {topic} within {CONSUME_TIMEOUT_S} s")


def test_a_message_round_trips_through_the_broker(kafka_bootstrap, new_topic):
    topic = new_topic("stack.roundtrip")
    produce(kafka_bootstrap, topic, b"key", b"hello")
    assert consume_first(kafka_bootstrap, topic) == (b"key", b"hello")


def test_new_topic_is_unique_and_has_the_partitions_asked_for(kafka_admin, new_topic):
    first, second = new_topic("stack.partitions", partitions=3), new_topic("stack.partitions", partitions=3)
    assert first != second
    topics = kafka_admin.list_topics(timeout=10).topics
    assert len(topics[first].partitions) == len(topics[second].partitions) == 3


@pytest.mark.parametrize("key", ["first", "second"])
def test_each_test_gets_an_empty_redis(redis_client, key):
    assert redis_client.ping()
    assert redis_client.dbsize() == 0
    redis_client.set(key, "value")
    assert redis_client.get(key) == b"value"


def test_stack_script_is_idempotent_and_keeps_data_across_restarts(new_stack):
    stack = new_stack(redis_persist="aof")

    stopped = stack.run("status")
    assert stopped.returncode == 3
    assert "kafka: stopped" in stopped.stdout and "redis: stopped" in stopped.stdout

    first, second = stack.run("up"), stack.run("up")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "kafka: already running" in second.stdout and "redis: already running" in second.stdout

    running = stack.run("status")
    assert running.returncode == 0
    assert "kafka: running" in running.stdout and f"127.0.0.1:{stack.kafka_port}" in running.stdout
    assert "redis: running" in running.stdout and f"127.0.0.1:{stack.redis_port}" in running.stdout

    produce(stack.kafka_bootstrap, "stack.restart", b"key", b"kept")
    redis.Redis.from_url(stack.redis_url).set("kept", "yes")

    first, second = stack.run("down"), stack.run("down")
    assert first.returncode == 0 and second.returncode == 0
    assert "kafka: not running" in second.stdout and "redis: not running" in second.stdout
    assert stack.run("status").returncode == 3
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", stack.kafka_port), timeout=1).close()

    stack.up()  # same run dir: storage already formatted, Redis replays its append-only file
    assert consume_first(stack.kafka_bootstrap, "stack.restart") == (b"key", b"kept")
    assert redis.Redis.from_url(stack.redis_url).get("kept") == b"yes"


@pytest.mark.parametrize("service, port_of", [
    ("kafka", lambda stack: stack.kafka_port),
    ("kafka", lambda stack: stack.kafka_port + 1),  # the KRaft controller's port
    ("redis", lambda stack: stack.redis_port),
], ids=["kafka-client-port", "kafka-controller-port", "redis-port"])
def test_stack_script_refuses_a_port_held_by_another_process(new_stack, service, port_of):
    stack = new_stack()
    port = port_of(stack)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        refused = stack.run("up", service)
    assert refused.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in refused.stderr
    assert stack.run("status", service).returncode == 3
