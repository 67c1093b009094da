"""The telemetry event contract: decoding, alias mapping and validation of one Kafka message.

A message is one JSON event or a JSON array of at most ``DEFAULT_MAX_EVENTS_PER_MESSAGE`` events (producers batch,
as OpenTelemetry exporters batch spans). Every element is validated on its own, so one bad event in a batch does not
cost the good ones; a larger array is one rejection, so one message cannot turn into a flood of dead letters.
Validation returns data instead of raising, because a rejected event is a normal outcome: it goes to the dead-letter
topic with a reason that names the field, and the worker carries on.

>>> events, rejected = decode_message(b'{"event.id": "e1", "time_unix_nano": 1767225600000000000,'
...     b' "service.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",'
...     b' "gen_ai.operation.name": "chat", "gen_ai.client.operation.duration": 0.8, "gen_ai.usage.prompt_tokens": 12}')
>>> events[0]["gen_ai.provider.name"], events[0]["gen_ai.usage.input_tokens"], rejected
('openai', 12, [])
>>> decode_message(b'{"event.id": "e2"}')[1][0].reason
'missing required field time_unix_nano'
"""
from __future__ import annotations

import functools
import math
import operator
import reprlib
import sys
from dataclasses import dataclass
from typing import Annotated, Any, Callable, NamedTuple

import msgspec
import orjson

EVENT_KINDS = ("llm_call", "evaluation", "feedback")
#: Events before 2000-01-01 or after 2100-01-01 are almost always seconds or milliseconds sent as nanoseconds.
MIN_TIME_NS = 946_684_800 * 10**9
MAX_TIME_NS = 4_102_444_800 * 10**9
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000
DEFAULT_MAX_EVENTS_PER_MESSAGE = 1_000
#: A dead-lettered batch element is re-encoded; parts nested deeper than this are replaced by ``TRUNCATED`` (the
#: encoder stops at 255 levels, and nothing in an event is nested more than 3 deep).
MAX_DEAD_LETTER_DEPTH = 32
TRUNCATED = "<truncated: nested too deep>"

#: Older and vendor names seen in the wild, mapped to the names we use (the canonical name wins when both are set).
ALIASES: dict[str, str] = {
    "gen_ai.system": "gen_ai.provider.name",
    "gen_ai.usage.prompt_tokens": "gen_ai.usage.input_tokens",
    "gen_ai.usage.completion_tokens": "gen_ai.usage.output_tokens",
    "llm.token_count.prompt": "gen_ai.usage.input_tokens",
    "llm.token_count.completion": "gen_ai.usage.output_tokens",
    "llm.usage.prompt_tokens": "gen_ai.usage.input_tokens",
    "llm.usage.completion_tokens": "gen_ai.usage.output_tokens",
    "llm.request.model": "gen_ai.request.model",
    "llm.model_name": "gen_ai.request.model",
    "gen_ai.usage.cache_write.input_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.server.time_to_first_token": "gen_ai.response.time_to_first_chunk",
}


@dataclass(frozen=True)
class Rejection:
    """Why one message (or one element of a batch) is not a valid event; ``original`` is the bytes to dead-letter."""

    reason: str
    field: str | None
    original: bytes
    index: int | None = None  # position in a batch, None for a whole message


class _Invalid(Exception):
    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _string(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(name, f"{name} must be a non-empty string, got {_show(value)}")


def _seconds(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _Invalid(name, f"{name} must be a finite number of seconds >= 0, got {_show(value)}")


def _optional_seconds(name: str, value: Any) -> None:
    if value is not None:
        _seconds(name, value)


def _amount(name: str, value: Any) -> None:
    """A quantity the detectors take the log of (cost): a negative one is a producer bug, not a refund."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value) or value < 0):
        raise _Invalid(name, f"{name} must be a finite number >= 0 or null, got {_show(value)}")


def _count(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise _Invalid(name, f"{name} must be a non-negative integer or null, got {_show(value)}")


def _finite(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Invalid(name, f"{name} must be a finite number, got {_show(value)}")


def _number(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
        raise _Invalid(name, f"{name} must be a finite number or null, got {_show(value)}")


def _flag(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise _Invalid(name, f"{name} must be true, false or null, got {_show(value)}")


def _optional_string(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise _Invalid(name, f"{name} must be a string or null, got {_show(value)}")


def _time(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(name, f"{name} must be an integer (nanoseconds since the epoch), got {_show(value)}")
    if not MIN_TIME_NS <= value < MAX_TIME_NS:
        raise _Invalid(name, f"{name} {value} is outside 2000..2100; is it in seconds or milliseconds?")


def _embedding(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not value or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        raise _Invalid(name, f"{name} must be a non-empty list of finite numbers")


def _string_list(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise _Invalid(name, f"{name} must be a list of strings")


def _evaluations(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise _Invalid(name, f"{name} must be a list of evaluation results")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Invalid(name, f"{name}[{i}] must be an object")
        _string(f"{name}[{i}].gen_ai.evaluation.name", item.get("gen_ai.evaluation.name"))
        score = item.get("gen_ai.evaluation.score.value")
        if score is None:
            raise _Invalid(name, f"{name}[{i}].gen_ai.evaluation.score.value is required")
        _number(f"{name}[{i}].gen_ai.evaluation.score.value", score)


Check = Callable[[str, Any], None]

#: Fields every event needs, whatever its kind.
COMMON_REQUIRED: dict[str, Check] = {
    "event.id": _string,
    "time_unix_nano": _time,
    "service.name": _string,
}
#: Fields an LLM call needs besides the common ones (``error.type`` is optional: absent or null means success, as in
#: OpenTelemetry, where only a failed operation carries it).
REQUIRED: dict[str, dict[str, Check]] = {
    "llm_call": {
        "gen_ai.provider.name": _string,
        "gen_ai.request.model": _string,
        "gen_ai.operation.name": _string,
        "gen_ai.client.operation.duration": _seconds,
    },
    "evaluation": {},
    "feedback": {"app.feedback.value": _finite},
}
#: Known optional fields: checked when present, so a detector never sees a string where it expects a number.
OPTIONAL: dict[str, Check] = {
    "schema.version": _optional_string,
    "deployment.environment.name": _optional_string,
    "trace_id": _optional_string,
    "error.type": _optional_string,
    "span_id": _optional_string,
    "gen_ai.provider.name": _optional_string,
    "gen_ai.request.model": _optional_string,
    "gen_ai.response.model": _optional_string,
    "gen_ai.response.id": _optional_string,
    "gen_ai.response.finish_reasons": _string_list,
    "gen_ai.response.time_to_first_chunk": _optional_seconds,
    "gen_ai.usage.input_tokens": _count,
    "gen_ai.usage.output_tokens": _count,
    "gen_ai.usage.cache_read.input_tokens": _count,
    "gen_ai.usage.cache_creation.input_tokens": _count,
    "gen_ai.usage.reasoning.output_tokens": _count,
    "http.response.status_code": _count,
    "app.tenant.id": _optional_string,
    "app.route": _optional_string,
    "app.variant": _optional_string,
    "app.prompt.version": _optional_string,
    "app.cost.usd": _amount,
    "app.input.chars": _count,
    "app.input.language": _optional_string,
    "app.input.topic": _optional_string,
    "app.input.embedding": _embedding,
    "app.safety.prompt_injection": _flag,
    "app.safety.pii_detected": _flag,
    "app.safety.blocked": _flag,
    "app.safety.refusal": _flag,
    "app.safety.toxicity_score": _number,
    "app.evaluation.results": _evaluations,
    "gen_ai.evaluation.name": _optional_string,
    "gen_ai.evaluation.score.value": _number,
    "app.feedback.value": _number,
}
STAGE_PREFIX, STAGE_SUFFIX = "app.stage.", ".duration"

# --- the same checks as msgspec types, for the typed pass ---------------------------------------------------------
# ``decode_message`` first runs one typed check per event in C (``msgspec.convert`` of the decoded dict to a Struct
# of the fields its shape holds); only an event that fails it goes through the checks above, which name the field and
# say why. The typed pass may be stricter than the checks, never looser: what it accepts, they accept unchanged.

_MAX_FLOAT = sys.float_info.max
_Finite = Annotated[float, msgspec.Meta(ge=-_MAX_FLOAT, le=_MAX_FLOAT)]  # bounds that NaN and infinities fail
_NonNegative = Annotated[float, msgspec.Meta(ge=0, le=_MAX_FLOAT)]
#: a regular expression per string is slow in msgspec: top-level ``_string`` fields get their blank check in Python
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
#: distinct event shapes (kind and field names, in order) remembered; a producer sends a handful
MAX_SHAPES = 1024
#: an event with more stage fields than this is judged by the field checks alone (no Struct built for it)
MAX_TYPED_STAGES = 16


class _EvaluationResult(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(pattern=r"\S")] = msgspec.field(name="gen_ai.evaluation.name")
    score: _Finite = msgspec.field(name="gen_ai.evaluation.score.value")


CHECK_TYPES: dict[Check, Any] = {
    _string: _NonEmpty,
    _optional_string: str | None,
    _seconds: _NonNegative,
    _optional_seconds: _NonNegative | None,
    _amount: _NonNegative | None,
    _count: Annotated[int, msgspec.Meta(ge=0)] | None,
    _finite: _Finite,
    _number: _Finite | None,
    _flag: bool | None,
    _time: Annotated[int, msgspec.Meta(ge=MIN_TIME_NS, lt=MAX_TIME_NS)],
    _embedding: Annotated[list[_Finite], msgspec.Meta(min_length=1)] | None,
    _string_list: list[str] | None,
    _evaluations: list[_EvaluationResult] | None,
}
_KNOWN = frozenset({*COMMON_REQUIRED, *OPTIONAL, *(name for fields in REQUIRED.values() for name in fields)})
_ALIAS_NAMES = frozenset(ALIASES)


class _Shape(NamedTuple):
    """What the typed pass needs to know about events of one kind with one list of field names."""

    struct: type[msgspec.Struct]  #: the kind's known fields and the shape's stage durations
    strings: Callable[[dict], tuple]  #: the ``_string`` fields' values, for their blank check
    aliased: bool  #: holds a vendor alias: the event is ``normalize_aliases``' copy


@functools.lru_cache(maxsize=MAX_SHAPES)
def _shape(kind: str, names: tuple[str, ...]) -> _Shape | None:
    """The typed pass of events of ``kind`` with these field names, or None when it does not take them (unknown kind,
    an evaluation without a score, too many stages): the field checks then judge every such event."""
    if kind not in EVENT_KINDS or _lacks_score(kind, names):  # no alias maps to a score field
        return None
    stages = tuple(name for name in names if name not in _KNOWN and _is_stage(name))
    if len(stages) > MAX_TYPED_STAGES:
        return None
    struct, strings = _typed_fields(kind, stages)
    return _Shape(struct, operator.itemgetter(*strings), not _ALIAS_NAMES.isdisjoint(names))


@functools.lru_cache(maxsize=64)
def _typed_fields(kind: str, stages: tuple[str, ...]) -> tuple[type[msgspec.Struct], tuple[str, ...]]:
    """The Struct of one kind's known fields (required ones without a default) and ``stages``, and its ``_string``
    fields (at least two: ``COMMON_REQUIRED``'s ``event.id`` and ``service.name``, so ``itemgetter`` gives a tuple)."""
    required = {**COMMON_REQUIRED, **REQUIRED[kind]}
    fields = {**{name: (check, msgspec.UNSET) for name, check in OPTIONAL.items()},
              **{name: (_seconds, msgspec.UNSET) for name in stages},
              **{name: (check, msgspec.NODEFAULT) for name, check in required.items()}}
    names = sorted(fields, key=lambda name: fields[name][1] is msgspec.UNSET)  # required first, as Python wants
    struct = msgspec.defstruct(f"{kind}_fields", [(f"f{i}", CHECK_TYPES[fields[name][0]], fields[name][1])
                                                  for i, name in enumerate(names)],
                               rename={f"f{i}": name for i, name in enumerate(names)})
    return struct, tuple(name for name in names if fields[name][0] is _string)


def _is_stage(name: str) -> bool:
    return name.startswith(STAGE_PREFIX) and name.endswith(STAGE_SUFFIX)


def decode_message(raw: bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                   max_events: int = DEFAULT_MAX_EVENTS_PER_MESSAGE,
                   latest_ns: int | None = None) -> tuple[list[dict], list[Rejection]]:
    """Decode one Kafka message value into valid, normalized events and rejections (never raises on bad input).

    ``latest_ns`` is the latest event time the caller accepts (the wall clock plus the allowed skew): validation
    itself reads no clock, so it gives the same answer for the same bytes and bound.
    """
    if raw is None:
        return [], [Rejection("empty message (null value)", None, b"")]
    if len(raw) > max_bytes:
        return [], [Rejection(f"oversized message: {len(raw)} bytes > limit {max_bytes}", None, raw)]
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [], [Rejection(f"not valid JSON: {exc}", None, raw)]
    if isinstance(doc, dict):
        return _one(doc, raw, None, latest_ns)
    if isinstance(doc, list):
        if not doc:
            return [], [Rejection("empty batch: a JSON array must hold at least one event", None, raw)]
        if len(doc) > max_events:
            return [], [Rejection(f"batch too large: {len(doc)} elements > limit {max_events}", None, raw)]
        events: list[dict] = []
        rejections: list[Rejection] = []
        for i, item in enumerate(doc):
            ok, bad = _one(item, None, i, latest_ns)
            events += ok
            rejections += bad
        return events, rejections
    return [], [Rejection(f"not a JSON object or array of objects, got {type(doc).__name__}", None, raw)]


def _one(doc: Any, raw: bytes | None, index: int | None, latest_ns: int | None) -> tuple[list[dict], list[Rejection]]:
    event = _typed_event(doc, latest_ns)
    if event is not None:
        return [event], []
    try:
        event = validate_event(doc)
        if latest_ns is not None and event["time_unix_nano"] > latest_ns:
            past_s = (event["time_unix_nano"] - latest_ns) / 1e9
            raise _Invalid("time_unix_nano", f"time_unix_nano {event['time_unix_nano']} is in the future: "
                                             f"{past_s:.0f}s past the wall clock plus the allowed skew")
        return [event], []
    except _Invalid as exc:
        original = raw if raw is not None else encode_element(doc)
        where = f"event [{index}]: " if index is not None else ""
        return [], [Rejection(where + exc.reason, exc.field, original, index)]


def validate_event(doc: Any) -> dict:
    """Return a normalized copy of ``doc`` (aliases mapped, ``event.kind`` set) or raise _Invalid naming the field."""
    if not isinstance(doc, dict):
        raise _Invalid(None, f"event must be a JSON object, got {type(doc).__name__}")
    event = normalize_aliases(doc)
    kind = event.setdefault("event.kind", "llm_call")
    if kind not in EVENT_KINDS:
        raise _Invalid("event.kind", f"event.kind must be one of {', '.join(EVENT_KINDS)}, got {_show(kind)}")
    for required in (COMMON_REQUIRED, REQUIRED[kind]):
        for name, check in required.items():
            if name not in event:
                raise _Invalid(name, f"missing required field {name}")
            check(name, event[name])
    for name, value in event.items():
        check = OPTIONAL.get(name)
        if check is not None:
            check(name, value)
        elif _is_stage(name):
            _seconds(name, value)
    if _lacks_score(kind, event):
        raise _Invalid("app.evaluation.results", "an evaluation event needs app.evaluation.results or "
                       "gen_ai.evaluation.name with gen_ai.evaluation.score.value")
    return event


def _lacks_score(kind: str, event: dict | tuple[str, ...]) -> bool:
    return kind == "evaluation" and "app.evaluation.results" not in event and "gen_ai.evaluation.score.value" not in event


def _typed_event(doc: Any, latest_ns: int | None) -> dict | None:
    """The event ``validate_event`` would return for a freshly decoded ``doc`` (which it may reuse), or None for
    anything the typed pass does not accept: ``validate_event`` then decides, and says why. What depends on the
    field names alone (aliases, stage fields, the Struct) is worked out once per shape (``_shape``)."""
    if type(doc) is not dict:
        return None
    kind = doc.get("event.kind", EVENT_KINDS[0])
    try:
        shape = _shape(kind, tuple(doc))
    except TypeError:  # an unhashable event.kind
        return None
    if shape is None:
        return None
    event = normalize_aliases(doc) if shape.aliased else doc
    try:
        msgspec.convert(event, shape.struct)
    except (TypeError, msgspec.ValidationError):
        return None
    if (latest_ns is not None and event["time_unix_nano"] > latest_ns) or any(map(str.isspace, shape.strings(event))):
        return None
    if "event.kind" not in event:
        event["event.kind"] = kind
    return event


def encode_element(doc: Any) -> bytes:
    """JSON bytes of one decoded element, for the dead-letter topic: whatever its nesting, this does not raise."""
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:  # nested deeper than the encoder goes
        return orjson.dumps(_truncate(doc, MAX_DEAD_LETTER_DEPTH))


def _truncate(value: Any, depth: int) -> Any:
    if not isinstance(value, (dict, list)):
        return value
    if depth == 0:
        return TRUNCATED
    if isinstance(value, dict):
        return {k: _truncate(v, depth - 1) for k, v in value.items()}
    return [_truncate(v, depth - 1) for v in value]


def normalize_aliases(doc: dict) -> dict:
    """Copy ``doc`` with vendor aliases renamed; the canonical name wins when both are present."""
    if not any(alias in doc for alias in ALIASES):
        return dict(doc)
    event = {}
    for key, value in doc.items():
        canonical = ALIASES.get(key)
        if canonical is None:
            event[key] = value
        elif canonical not in doc:
            event[canonical] = value
    return event


_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxother, _SHOW.maxlist, _SHOW.maxdict = 3, 40, 40, 4, 4


def _show(value: Any) -> str:
    """A short, depth-limited picture of a bad value for the reason text (never deep recursion, never 1 MB)."""
    text = _SHOW.repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
