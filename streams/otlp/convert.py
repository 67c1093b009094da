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
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

from inferwatch.streams.otlp.decode import NotOtlp, decode_request, spans
from inferwatch.streams.otlp.traces import DEFAULT_MAX_TRACES, DEFAULT_WAIT_S, TraceAssembler
from inferwatch.streams.schema import DEFAULT_MAX_MESSAGE_BYTES, Rejection


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
