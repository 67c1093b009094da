"""The telemetry event contract as a JSON Schema, generated from ``streams.schema``'s field tables.

Why generated: producers in other languages validate against ``docs/telemetry-event.schema.json``, and the one
definition stays ``streams.schema`` (``COMMON_REQUIRED``, ``REQUIRED`` per ``event.kind``, ``OPTIONAL``): each check
function there has its JSON Schema equivalent in ``CHECK_SCHEMAS`` below, and a check without one stops the
generator, so the file cannot silently fall behind (tests/streams/test_event_jsonschema.py regenerates and compares).

The schema describes the canonical (OpenTelemetry) names; the legacy aliases ``streams.schema.ALIASES`` maps on
ingest (e.g. ``gen_ai.system``) are accepted by the worker but not by this schema.

Regenerate: ``python -m inferwatch.streams.event_jsonschema > docs/telemetry-event.schema.json``.
"""
from __future__ import annotations

import json
from typing import Any

from inferwatch.streams import schema

NUMBER = {"type": "number"}
CHECK_SCHEMAS: dict[Any, dict[str, Any]] = {
    schema._string: {"type": "string", "pattern": r"\S"},
    schema._optional_string: {"type": ["string", "null"]},
    schema._seconds: {**NUMBER, "minimum": 0},
    schema._optional_seconds: {"type": ["number", "null"], "minimum": 0},
    schema._amount: {"type": ["number", "null"], "minimum": 0},
    schema._count: {"type": ["integer", "null"], "minimum": 0},
    schema._finite: NUMBER,
    schema._number: {"type": ["number", "null"]},
    schema._flag: {"type": ["boolean", "null"]},
    schema._time: {"type": "integer", "minimum": schema.MIN_TIME_NS, "exclusiveMaximum": schema.MAX_TIME_NS,
                   "description": "nanoseconds since the Unix epoch"},
    schema._embedding: {"type": ["array", "null"], "items": NUMBER, "minItems": 1},
    schema._string_list: {"type": ["array", "null"], "items": {"type": "string"}},
    schema._evaluations: {"type": ["array", "null"], "items": {
        "type": "object", "required": ["gen_ai.evaluation.name", "gen_ai.evaluation.score.value"],
        "properties": {"gen_ai.evaluation.name": {"type": "string", "pattern": r"\S"},
                       "gen_ai.evaluation.score.value": NUMBER}}},
}


def _schema_of(name: str, check: Any) -> dict[str, Any]:
    try:
        return dict(CHECK_SCHEMAS[check])
    except KeyError:
        raise LookupError(f"{name}: check {check.__name__} has no JSON Schema in CHECK_SCHEMAS") from None


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one telemetry event; a Kafka message holds one event or an array of them."""
    properties = {name: _schema_of(name, check) for name, check in schema.OPTIONAL.items()}
    properties.update({name: _schema_of(name, check) for name, check in schema.COMMON_REQUIRED.items()})
    properties["event.kind"] = {"enum": list(schema.EVENT_KINDS), "default": schema.EVENT_KINDS[0]}
    per_kind = []
    for kind, required in schema.REQUIRED.items():
        then: dict[str, Any] = {"required": list(required),
                                "properties": {name: _schema_of(name, check) for name, check in required.items()}}
        if kind == "evaluation":
            then["anyOf"] = [{"required": ["app.evaluation.results"]},
                             {"required": ["gen_ai.evaluation.name", "gen_ai.evaluation.score.value"]}]
        # an absent event.kind is the default kind: "properties" holds vacuously when the key is missing
        when = {"properties": {"event.kind": {"const": kind}}}
        if kind != schema.EVENT_KINDS[0]:
            when["required"] = ["event.kind"]
        per_kind.append({"if": when, "then": then})
    stage = {**_schema_of("app.stage.*.duration", schema._seconds),
             "description": "seconds spent in one stage of the request (retrieval, rerank, tool, ...)"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://inferwatch.dev/schemas/telemetry-event.schema.json",
        "title": "inferwatch telemetry event",
        "description": "One LLM call, evaluation or feedback event; generated from streams/schema.py. "
                       "Other fields are allowed and kept.",
        "type": "object",
        "required": list(schema.COMMON_REQUIRED),
        "properties": dict(sorted(properties.items())),
        "patternProperties": {f"^{schema.STAGE_PREFIX.replace('.', '[.]')}.+{schema.STAGE_SUFFIX.replace('.', '[.]')}$":
                              stage},
        "allOf": per_kind,
    }


def render() -> str:
    return json.dumps(event_json_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")
