"""The series decides the partition: events re-published keyed by ``service.name``, on the partition Kafka's own
partitioner gives that key, so one worker's engine judges every series of a service.

Every series key starts with ``service.name`` (model series, tenant series, SLO groups), so a service on one
partition is enough. Producers do not all key that way: the OpenTelemetry Collector keys by trace id or not at all,
a producer may key by model, a batch may mix services. The detection agent therefore takes a telemetry message
straight to the detection step only when it is already where its events belong (``regroup`` returns None): its key
equals the ``service.name`` of every event in it, and it sits on the partition ``partition_for`` gives that key.
Otherwise its events are re-published, one JSON array per service, to ``<telemetry topic>.by-service`` (same
partition count), which the same agent consumes; Faust assigns partition N of both topics to the same worker
(co-partitioning), and the worker runs one engine per partition number. The OTLP agent re-publishes its converted
events the same way, to the telemetry topic.

``partition_for`` is murmur2 modulo the partition count, the default of Kafka's Java clients, aiokafka (Faust) and
librdkafka's ``murmur2_random``; a producer keyed by service with another partitioner (librdkafka's default CRC32)
is still correct, its messages are re-published once (docs/connect-your-app.md).

>>> list(batches_by_service([{"service.name": "a", "n": 1}, {"service.name": "b"}, {"service.name": "a", "n": 2}]))
[(b'a', b'[{"service.name":"a","n":1},{"service.name":"a","n":2}]'), (b'b', b'[{"service.name":"b"}]')]
>>> partition_for(b"chat", 4), partition_for(b"rag-api", 4)
(2, 1)
>>> regroup(b'[{"service.name":"chat"}]', b"chat", 2, 4) is None
True
>>> regroup(b'[{"service.name":"chat"},{"service.name":"rag-api"}]', b"trace-7", 0, 4)
[(b'chat', b'[{"service.name":"chat"}]'), (b'rag-api', b'[{"service.name":"rag-api"}]')]
>>> regroup(b'{"service.name":"chat"}', None, 2, 4), regroup(b"not json", None, 2, 4)
([(b'chat', b'[{"service.name":"chat"}]')], None)
"""
from __future__ import annotations

import functools
from typing import Any, Iterable, Iterator

import msgspec
import orjson
from aiokafka.partitioner import murmur2

from inferwatch.streams.schema import DEFAULT_MAX_EVENTS_PER_MESSAGE, DEFAULT_MAX_MESSAGE_BYTES, encode_element

#: re-published events go in JSON arrays of at most this many bytes (well under Kafka's 1 MB) and events
MAX_BATCH_BYTES = 512_000
MAX_BATCH_EVENTS = 500
BY_SERVICE_SUFFIX = ".by-service"


def by_service_topic(telemetry_topic: str) -> str:
    """The internal topic that holds re-partitioned telemetry.

    >>> by_service_topic("llm.telemetry.v1")
    'llm.telemetry.v1.by-service'
    """
    return telemetry_topic + BY_SERVICE_SUFFIX


@functools.lru_cache(maxsize=4096)
def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partition of a keyed message (Java client, aiokafka, librdkafka ``murmur2_random``);
    remembered per key, as aiokafka's murmur2 is pure Python (tens of microseconds) and keys here are services."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def service_of(event: Any) -> str:
    """The key an event is re-published under; what has no usable ``service.name`` goes under "" and is rejected
    with a reason by validation downstream."""
    return _name(event.get("service.name") if isinstance(event, dict) else None)


def _name(service: Any) -> str:
    return service if isinstance(service, str) else ""


def regroup(raw: bytes | None, key: bytes | None, partition: int, partitions: int,
            max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
            max_events: int = DEFAULT_MAX_EVENTS_PER_MESSAGE) -> list[tuple[bytes, bytes]] | None:
    """None when the message goes straight to the detection step: it is where its events belong, or it is rejected
    whole there (not JSON, oversized, too many events, not objects); else the ``(key, value)`` messages that carry
    its events, grouped by service, to be re-published."""
    if raw is None or len(raw) > max_bytes:
        return None
    home = key.decode("utf-8", "replace") if key is not None and partition_for(key, partitions) == partition else None
    if home is not None and _services(raw) == {home}:  # the usual case, told without building the events
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    events = doc if isinstance(doc, list) else [doc]
    if not events or len(events) > max_events or not any(isinstance(event, dict) for event in events):
        return None
    if home is not None and {service_of(event) for event in events} == {home}:
        return None
    return list(batches_by_service(events))


class _Service(msgspec.Struct):
    name: Any = msgspec.field(default=None, name="service.name")


_SERVICES = msgspec.json.Decoder(list[_Service] | _Service)


def _services(raw: bytes) -> set[str] | None:
    """The services of a message whose every element is an object, read by a typed decode that skips every other
    field instead of building the events (the detection step decodes them anyway); None for anything else, which
    ``regroup`` then judges on the decoded document."""
    try:
        doc = _SERVICES.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    return {_name(item.name) for item in (doc if isinstance(doc, list) else [doc])}


def batches_by_service(events: Iterable[Any], max_bytes: int = MAX_BATCH_BYTES,
                       max_events: int = MAX_BATCH_EVENTS) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` messages: one JSON array per ``service.name`` (the key), in the events' order, split to
    stay under ``max_bytes`` and ``max_events``; the shape ``streams.producer.TelemetryProducer`` publishes."""
    groups: dict[str, list[bytes]] = {}
    for event in events:
        # a value nested deeper than orjson encodes is cut (schema.TRUNCATED): re-published, not raised in the agent
        groups.setdefault(service_of(event), []).append(encode_element(event))
    for key, encoded in groups.items():
        batch: list[bytes] = []
        size = 2
        for item in encoded:
            if batch and (size + len(item) + 1 > max_bytes or len(batch) >= max_events):
                yield key.encode(), b"[" + b",".join(batch) + b"]"
                batch, size = [], 2
            batch.append(item)
            size += len(item) + 1
        yield key.encode(), b"[" + b",".join(batch) + b"]"


async def republish(topic, messages: Iterable[tuple[bytes, bytes]], partitions: int) -> None:
    """Send ``(key, value)`` messages to ``topic`` (a Faust topic), each on its key's partition. Faust flushes its
    producer before it commits the offset of the message being handled (streams/agents.py)."""
    for key, value in messages:
        await topic.send(key=key, value=value, partition=partition_for(key, partitions))
