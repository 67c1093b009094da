"""OTLP trace messages in, our telemetry events out: decoding and trace assembly behind one small object.

The converter produces event dicts and never validates them: they go through ``streams.schema`` like any producer's
events (the worker re-publishes them to the telemetry topic, ``inferwatch replay`` feeds them to the pipeline), so
a span that maps to a bad event is dead-lettered with a reason that names the field, as our own JSON would be.
A message that is not OTLP at all is rejected here, with the decoder's reason.

>>> from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
>>> converter = OtlpConverter(stages=["inference"])
>>> converter.handle(b"\\xff\\xff not protobuf")[1][0].reason
'not an OTLP ExportTraceServiceRequest: not JSON, and not valid otlp_proto'
>>> converter.handle(ExportTraceServiceRequest().SerializeToString())
([], [])
>>> list(batches_by_service([{"service.name": "a", "n": 1}, {"service.name": "b"}, {"service.name": "a", "n": 2}]))
[(b'a', b'[{"service.name":"a","n":1},{"service.name":"a","n":2}]'), (b'b', b'[{"service.name":"b"}]')]
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator

import orjson

from streams.otlp.decode import NotOtlp, decode_request, spans
from streams.otlp.traces import DEFAULT_MAX_TRACES, DEFAULT_WAIT_S, TraceAssembler
from streams.schema import DEFAULT_MAX_MESSAGE_BYTES, Rejection

#: converted events are re-published in JSON arrays of at most this many bytes (well under Kafka's 1 MB) and events
MAX_BATCH_BYTES = 512_000
MAX_BATCH_EVENTS = 500


class OtlpConverter:
    """Per input partition (spans of one trace share a partition when the Collector keys messages by trace id)."""

    def __init__(self, stages: Iterable[str], max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 wait_s: float = DEFAULT_WAIT_S, max_traces: int = DEFAULT_MAX_TRACES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_message_bytes = max_message_bytes
        self.traces = TraceAssembler(stages, wait_s=wait_s, max_traces=max_traces, clock=clock)

    @property
    def stats(self):
        return self.traces.stats

    def handle(self, raw: bytes | None) -> tuple[list[dict], list[Rejection]]:
        """Events of the traces this message completed (or that timed out meanwhile), and its rejection if any."""
        if raw is None:
            return self.traces.expire(), [Rejection("empty message (null value)", None, b"")]
        if len(raw) > self.max_message_bytes:
            return self.traces.expire(), [Rejection(
                f"oversized message: {len(raw)} bytes > limit {self.max_message_bytes}", None, raw)]
        try:
            request = decode_request(raw)
        except NotOtlp as exc:
            return self.traces.expire(), [Rejection(str(exc), None, raw)]
        return self.traces.add(spans(request)), []

    def handle_request(self, request) -> list[dict]:
        """An already-decoded ``ExportTraceServiceRequest`` (``inferwatch replay`` parses each line once)."""
        return self.traces.add(spans(request))

    def expire(self) -> list[dict]:
        return self.traces.expire()

    def drain(self) -> list[dict]:
        return self.traces.drain()


def batches_by_service(events: Iterable[dict], max_bytes: int = MAX_BATCH_BYTES,
                       max_events: int = MAX_BATCH_EVENTS) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` messages: one JSON array per ``service.name`` (the telemetry topic's key), split to stay
    under ``max_bytes`` and ``max_events``; the same shape ``streams.producer.TelemetryProducer`` publishes."""
    groups: dict[str, list[bytes]] = {}
    for event in events:
        groups.setdefault(str(event.get("service.name", "")), []).append(orjson.dumps(event))
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
