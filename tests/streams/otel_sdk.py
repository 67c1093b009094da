"""Spans made with the real OpenTelemetry SDK and encoded with the SDK's own OTLP encoders, for the OTLP tests.

The proto encoder is the one the SDK's OTLP exporters use (``opentelemetry-exporter-otlp-proto-common``); the JSON
one (``opentelemetry-exporter-otlp-json-common``) writes OTLP/JSON with hex ids, as the Collector does.
"""
from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans as encode_json
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as encode_proto
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

T0 = 1_767_225_600_000_000_000
NS = 1_000_000_000
ENCODINGS = ("otlp_proto", "otlp_json")


class Recorder:
    """One instrumented service: start/end spans at given seconds after ``T0``; ``take()`` the ended ones."""

    def __init__(self, service: str = "rag-api", environment: str = "prod") -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create(
            {"service.name": service, "deployment.environment.name": environment}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("inferwatch.tests")

    def start(self, name: str, at_s: float, parent=None, **attributes) -> trace.Span:
        context = trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(name, context=context, start_time=T0 + int(at_s * NS), attributes=attributes)

    def span(self, name: str, start_s: float, end_s: float, parent=None, **attributes) -> trace.Span:
        span = self.start(name, start_s, parent, **attributes)
        span.end(end_time=T0 + int(end_s * NS))
        return span

    def fail(self, span: trace.Span, exception: Exception | None = None) -> None:
        if exception is not None:
            span.record_exception(exception)
        span.set_status(Status(StatusCode.ERROR, "failed"))

    def take(self) -> list[ReadableSpan]:
        spans = list(self.exporter.get_finished_spans())
        self.exporter.clear()
        return spans


def encode(spans: list[ReadableSpan], encoding: str) -> bytes:
    """One Kafka message value, as the Collector's Kafka exporter writes it with ``encoding``."""
    if encoding == "otlp_proto":
        return encode_proto(spans).SerializeToString()
    return encode_json(spans).to_json().encode()
