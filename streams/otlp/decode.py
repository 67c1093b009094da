"""One Kafka message (or one file line) of OTLP traces into flat ``Span`` records, with the official proto classes.

The OpenTelemetry Collector's Kafka exporter writes a whole ``ExportTraceServiceRequest`` per message, as
``otlp_proto`` (its default) or ``otlp_json``; which one is told by the first byte, per message, so a topic fed by
two Collectors configured differently still decodes. A protobuf ``ExportTraceServiceRequest`` starts with the tag of
field 1 (``0x0A``); OTLP/JSON starts with ``{``, which no valid protobuf message of this type can.

OTLP/JSON differs from the protobuf JSON mapping in one place that matters: trace and span ids are hex strings,
not base64. They are turned into base64 before ``json_format.ParseDict`` so the proto message holds the real bytes.

>>> from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
>>> doc = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "chat"}}]},
...   "scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
...   "name": "chat gpt-4o", "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": "1767225600800000000",
...   "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}]}]}]}]}
>>> [span] = list(spans(decode_request(orjson.dumps(doc))))
>>> span.trace_id, span.span_id, span.resource["service.name"], span.attributes, span.end_ns - span.start_ns
('5b8efff798038103d269b633813fc60c', 'eee19b7ec3c1b174', 'chat', {'gen_ai.usage.input_tokens': 12}, 800000000)
>>> [span.span_id for span in spans(decode_request(decode_request(orjson.dumps(doc)).SerializeToString()))]
['eee19b7ec3c1b174']
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Iterator

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags, Status

JSON_START = b"{"
#: the two encodings of the Collector's Kafka exporter (``encoding:``) that this decoder accepts
ENCODINGS = ("otlp_proto", "otlp_json")
STATUS_ERROR = Status.STATUS_CODE_ERROR
_REMOTE_PARENT = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_HEX = frozenset("0123456789abcdefABCDEF")


class NotOtlp(ValueError):
    """The bytes are not an ``ExportTraceServiceRequest`` in either encoding; the message says why."""


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict


@dataclass(frozen=True, slots=True)
class Span:
    """What the converter needs of one span: ids as lowercase hex (as OTLP/JSON and trace UIs show them)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    #: the parent lives in another process: this span is the local root of its trace here
    parent_is_remote: bool
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict
    resource: dict
    events: tuple[SpanEvent, ...]

    @property
    def is_local_root(self) -> bool:
        return not self.parent_span_id or self.parent_is_remote


def encoding_of(raw: bytes) -> str:
    """``otlp_json`` or ``otlp_proto``, from the first non-blank byte.

    >>> encoding_of(b' {"resourceSpans": []}'), encoding_of(b"\\x0a\\x00")
    ('otlp_json', 'otlp_proto')
    """
    return "otlp_json" if raw.lstrip()[:1] == JSON_START else "otlp_proto"


def is_otlp_json(doc: Any) -> bool:
    """An OTLP/JSON export request, as opposed to one of our own events (which never have this key)."""
    return isinstance(doc, dict) and ("resourceSpans" in doc or "resource_spans" in doc)


def decode_request(raw: bytes) -> ExportTraceServiceRequest:
    """Parse either encoding; raise NotOtlp with the reason otherwise."""
    request = ExportTraceServiceRequest()
    if encoding_of(raw) == "otlp_proto":
        try:
            request.ParseFromString(raw)
        except DecodeError:
            raise NotOtlp("not an OTLP ExportTraceServiceRequest: not JSON, and not valid otlp_proto") from None
        return request
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NotOtlp(f"not valid JSON: {exc}") from None
    return request_from_json(doc)


def request_from_json(doc: Any) -> ExportTraceServiceRequest:
    """An already-parsed OTLP/JSON document as the proto message (hex ids made base64 first)."""
    if not is_otlp_json(doc):
        raise NotOtlp("not an OTLP/JSON ExportTraceServiceRequest: no resourceSpans")
    for resource_spans in doc.get("resourceSpans") or doc.get("resource_spans") or ():
        for scope_spans in resource_spans.get("scopeSpans") or resource_spans.get("scope_spans") or ():
            for span in scope_spans.get("spans") or ():
                _hex_ids_to_base64(span)
                for link in span.get("links") or ():
                    _hex_ids_to_base64(link)
    try:
        return json_format.ParseDict(doc, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, AttributeError, TypeError) as exc:
        raise NotOtlp(f"not an OTLP/JSON ExportTraceServiceRequest: {exc}") from None


def _hex_ids_to_base64(node: dict) -> None:
    for name in _ID_FIELDS:
        value = node.get(name)
        if isinstance(value, str) and value and len(value) in (16, 32) and _HEX.issuperset(value):
            node[name] = base64.b64encode(bytes.fromhex(value)).decode()


def spans(request: ExportTraceServiceRequest) -> Iterator[Span]:
    """Every span of the request with its resource's attributes."""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield Span(
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(), parent_is_remote=bool(span.flags & _REMOTE_PARENT),
                    name=span.name, start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
                    status_code=span.status.code, status_message=span.status.message,
                    attributes=attributes(span.attributes), resource=resource,
                    events=tuple(SpanEvent(e.name, e.time_unix_nano, attributes(e.attributes)) for e in span.events),
                )


def attributes(key_values) -> dict:
    """OTLP ``KeyValue`` list as a dict of plain values; maps and bytes are left out (no event field takes them)."""
    out = {}
    for kv in key_values:
        value = _value(kv.value)
        if value is not None:
            out[kv.key] = value
    return out


def _value(any_value) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "string_value":
        return any_value.string_value
    if kind == "int_value":
        return any_value.int_value
    if kind == "double_value":
        return any_value.double_value
    if kind == "bool_value":
        return any_value.bool_value
    if kind == "array_value":
        return [v for v in map(_value, any_value.array_value.values) if v is not None]
    return None
