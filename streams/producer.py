"""Publishing telemetry from an application: a small, non-blocking helper around confluent-kafka's Producer.

Why batching by default: the worker pays a fixed cost per Kafka message (Faust decoding, offsets), so several events
per message (a JSON array, as OpenTelemetry exporters batch spans) is the main throughput lever. Events are batched
per ``service.name``, which is also the message key, so every event of one service lands on one partition, in order,
and the detector state of its series lives with one worker.

Why sampling is by ``event.id`` hash: the decision is stable, so retries of one call are sampled the same way. Sampled
events carry ``app.sample.rate`` so consumers can tell.
"""
from __future__ import annotations

import logging
import time
import zlib
from collections import deque
from typing import Callable

import orjson
from confluent_kafka import KafkaError, Message, Producer

from inferwatch.streams.kafka_security import watched

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "llm.telemetry.v1"
#: Stay well under Kafka's default 1 MB message limit.
MAX_BATCH_BYTES = 512_000
#: ``flush`` waits in slices this long, so a refused login ends the wait at once instead of at the timeout
FLUSH_SLICE_S = 0.1
#: the client settings that decide a message's partition and its size on the wire. The partitioner is Kafka's
#: default (Java clients, aiokafka): the partition the worker expects for the key, so messages are not re-published
#: (streams/republish.py); librdkafka's own default hashes with CRC32
PLACEMENT = {"compression.type": "lz4", "partitioner": "murmur2_random"}


def batch_message(encoded: list[bytes]) -> bytes:
    """One message's value for events already JSON-encoded: the event itself when alone, else a JSON array.

    >>> batch_message([b'{"a":1}']), batch_message([b'{"a":1}', b'{"a":2}'])
    (b'{"a":1}', b'[{"a":1},{"a":2}]')
    """
    return encoded[0] if len(encoded) == 1 else b"[" + b",".join(encoded) + b"]"


class DeliveryError(RuntimeError):
    """Some messages were not delivered to Kafka; ``errors`` holds the broker's reasons."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} telemetry message(s) not delivered; first: {errors[0]}")
        self.errors = errors


class TelemetryProducer:
    """Send events with ``send(event)``; call ``flush()`` before exit. Never blocks on the network in ``send``.

    Delivery failures are surfaced three ways: the ``failed`` counter, the optional ``on_error`` callback, and a
    ``DeliveryError`` from ``flush()``. A cluster that refuses us (wrong password, untrusted certificate) makes
    ``flush()`` raise ``streams.kafka_security.KafkaAccessError`` at once. ``config`` takes librdkafka properties,
    e.g. ``streams.kafka_security.client_config(settings.kafka)`` for a secured cluster.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str = DEFAULT_TOPIC,
        *,
        batch_size: int = 100,
        linger_s: float = 0.05,
        sample_rate: float = 1.0,
        on_error: Callable[[str], None] | None = None,
        config: dict | None = None,
    ) -> None:
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.topic = topic
        self.batch_size = batch_size
        self.linger_s = linger_s
        self.sample_rate = sample_rate
        self.on_error = on_error
        self.delivered = 0
        self.failed = 0
        self.sampled_out = 0
        self._errors: deque[str] = deque(maxlen=100)
        self._batches: dict[str, list[bytes]] = {}
        self._batch_bytes: dict[str, int] = {}
        self._opened: dict[str, float] = {}
        producer_config, self._access = watched({
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "enable.idempotence": True,
            **PLACEMENT,
            **(config or {}),
        })
        self._producer = Producer(producer_config)

    def send(self, event: dict) -> bool:
        """Queue one event; returns False if it was sampled out."""
        if self.sample_rate < 1.0:
            if not self._keep(event):
                self.sampled_out += 1
                return False
            event = {**event, "app.sample.rate": self.sample_rate}
        key = str(event.get("service.name", ""))
        encoded = orjson.dumps(event)
        batch = self._batches.setdefault(key, [])
        if not batch:
            self._opened[key] = time.monotonic()
            self._batch_bytes[key] = 0
        batch.append(encoded)
        self._batch_bytes[key] += len(encoded) + 1
        if len(batch) >= self.batch_size or self._batch_bytes[key] >= MAX_BATCH_BYTES:
            self._produce(key)
        self._flush_lingering()
        self._producer.poll(0)
        return True

    def flush(self, timeout: float = 30.0) -> None:
        """Send every queued batch and wait for delivery; raise DeliveryError if anything failed since last flush."""
        for key in list(self._batches):
            self._produce(key)
        deadline = time.monotonic() + timeout
        remaining = self._producer.flush(0)
        while remaining and self._access.error is None and time.monotonic() < deadline:
            remaining = self._producer.flush(min(FLUSH_SLICE_S, max(deadline - time.monotonic(), 0.0)))
        self._access.raise_if_failed()
        if remaining:
            self._record_error(f"{remaining} message(s) still queued after {timeout}s flush timeout")
        if self._errors:
            errors = list(self._errors)
            self._errors.clear()
            raise DeliveryError(errors)

    def _keep(self, event: dict) -> bool:
        ident = str(event.get("event.id", "")).encode()
        return zlib.crc32(ident) / 2**32 < self.sample_rate

    def _flush_lingering(self) -> None:
        now = time.monotonic()
        for key, opened in list(self._opened.items()):
            if self._batches.get(key) and now - opened >= self.linger_s:
                self._produce(key)

    def _produce(self, key: str) -> None:
        batch = self._batches.pop(key, None)
        self._opened.pop(key, None)
        if not batch:
            return
        value = batch_message(batch)
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key.encode(), on_delivery=self._on_delivery)
                return
            except BufferError:  # local queue full: serve callbacks to make room (backpressure, not loss)
                self._producer.poll(0.1)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
        else:
            self._record_error(f"{err.name()}: {err.str()}")

    def _record_error(self, text: str) -> None:
        self.failed += 1
        self._errors.append(text)
        log.warning("telemetry delivery failed: %s", text)
        if self.on_error is not None:
            self.on_error(text)
