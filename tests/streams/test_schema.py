"""The pinned telemetry contract: required fields, aliases, batches, and a named reason for every kind of bad input."""
from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from inferwatch.streams.schema import ALIASES, COMMON_REQUIRED, REQUIRED, _Invalid, decode_message, validate_event
from tests.streams.strategies import json_documents, near_valid_events

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def llm_call(**overrides) -> dict:
    event = {
        "event.id": "e-1", "time_unix_nano": T0, "service.name": "support-bot",
        "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.operation.name": "chat",
        "gen_ai.client.operation.duration": 0.82, "error.type": None,
        "gen_ai.usage.input_tokens": 412, "gen_ai.usage.output_tokens": 96,
    }
    event.update(overrides)
    return event


def encode(doc) -> bytes:
    return orjson.dumps(doc)


def test_valid_llm_call_passes_unchanged_with_default_kind():
    events, rejected = decode_message(encode(llm_call(**{"app.route": "/answer", "x.custom": {"kept": True}})))
    assert rejected == []
    assert events[0]["event.kind"] == "llm_call"
    assert events[0]["x.custom"] == {"kept": True}, "unknown extra keys are kept"
    assert events[0]["gen_ai.client.operation.duration"] == 0.82


@pytest.mark.parametrize("field", sorted({**COMMON_REQUIRED, **REQUIRED["llm_call"]}))
def test_each_required_field_of_an_llm_call_is_enforced_by_name(field):
    event = llm_call()
    del event[field]
    events, rejected = decode_message(encode(event))
    assert events == []
    assert rejected[0].field == field
    assert rejected[0].reason == f"missing required field {field}"


def test_error_type_is_optional_and_absent_or_null_means_success():
    """As in OpenTelemetry, only a failed operation carries error.type."""
    event = llm_call()
    del event["error.type"]
    assert decode_message(encode(event))[1] == []
    assert decode_message(encode(llm_call(**{"error.type": None})))[1] == []
    assert decode_message(encode(llm_call(**{"error.type": "rate_limit_exceeded"})))[1] == []
    assert decode_message(encode(llm_call(**{"error.type": 500})))[1][0].field == "error.type"


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_vendor_aliases_map_to_canonical_names(alias):
    canonical = ALIASES[alias]
    value = "openai" if canonical.endswith("name") or canonical.endswith("model") else 7
    value = 0.4 if canonical.endswith("first_chunk") else value
    event = llm_call()
    event.pop(canonical, None)
    event[alias] = value
    events, rejected = decode_message(encode(event))
    assert rejected == []
    assert events[0][canonical] == value
    assert alias not in events[0]


def test_canonical_name_wins_over_alias():
    events, _ = decode_message(encode(llm_call(**{"gen_ai.system": "anthropic"})))
    assert events[0]["gen_ai.provider.name"] == "openai"


BAD_INPUT = [
    ("not json", b"{not json", None, "not valid JSON"),
    ("not an object", b"42", None, "not a JSON object or array"),
    ("empty batch", b"[]", None, "empty batch"),
    ("wrong type", encode(llm_call(**{"service.name": 5})), "service.name", "must be a non-empty string"),
    ("negative duration", encode(llm_call(**{"gen_ai.client.operation.duration": -1})),
     "gen_ai.client.operation.duration", ">= 0"),
    ("string duration", encode(llm_call(**{"gen_ai.client.operation.duration": "1s"})),
     "gen_ai.client.operation.duration", "finite number"),
    ("timestamp in seconds", encode(llm_call(time_unix_nano=1_767_225_600)), "time_unix_nano", "outside 2000..2100"),
    ("float timestamp", encode(llm_call(time_unix_nano=1.5e18)), "time_unix_nano", "must be an integer"),
    ("negative tokens", encode(llm_call(**{"gen_ai.usage.output_tokens": -3})), "gen_ai.usage.output_tokens",
     "non-negative integer"),
    ("bad kind", encode(llm_call(**{"event.kind": "span"})), "event.kind", "must be one of"),
    ("bad safety flag", encode(llm_call(**{"app.safety.blocked": "yes"})), "app.safety.blocked", "true, false"),
    ("negative cost", encode(llm_call(**{"app.cost.usd": -1})), "app.cost.usd", ">= 0"),
    ("negative time to first chunk", encode(llm_call(**{"gen_ai.response.time_to_first_chunk": -1})),
     "gen_ai.response.time_to_first_chunk", ">= 0"),
    ("feedback value null", encode({"event.kind": "feedback", "event.id": "f", "time_unix_nano": T0,
                                    "service.name": "s", "app.feedback.value": None}), "app.feedback.value",
     "finite number"),
    ("deep list in event.id", b'{"event.id": ' + b"[" * 1000 + b"]" * 1000 + b"}", "event.id", "[[[[...]]]]"),
    ("bad stage duration", encode(llm_call(**{"app.stage.retrieval.duration": -0.1})),
     "app.stage.retrieval.duration", ">= 0"),
    ("bad embedding", encode(llm_call(**{"app.input.embedding": ["a"]})), "app.input.embedding", "finite numbers"),
    ("feedback without value", encode({"event.kind": "feedback", "event.id": "f", "time_unix_nano": T0,
                                       "service.name": "s"}), "app.feedback.value", "missing required field"),
    ("evaluation without score", encode({"event.kind": "evaluation", "event.id": "v", "time_unix_nano": T0,
                                         "service.name": "s"}), "app.evaluation.results", "needs"),
]


@pytest.mark.parametrize("raw,field,reason", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_rejected_with_a_reason_naming_the_field(raw, field, reason):
    events, rejected = decode_message(raw)
    assert events == []
    assert len(rejected) == 1
    assert rejected[0].field == field
    assert reason in rejected[0].reason
    assert rejected[0].original == raw, "the dead letter keeps the original bytes"


def test_nan_duration_is_rejected():
    raw = encode(llm_call()).replace(b"0.82", b"NaN")
    events, rejected = decode_message(raw)
    assert events == [] and rejected, "NaN is not JSON, and must not reach a detector"
    assert not any(math.isnan(e.get("gen_ai.client.operation.duration", 0)) for e in events)


def test_oversized_message_is_rejected_before_parsing():
    raw = encode(llm_call(**{"pad": "x" * 2000}))
    events, rejected = decode_message(raw, max_bytes=1000)
    assert events == [] and "oversized" in rejected[0].reason


def test_batch_elements_are_validated_one_by_one():
    good1, good2 = llm_call(**{"event.id": "a"}), llm_call(**{"event.id": "b"})
    bad = llm_call(**{"event.id": "c", "gen_ai.request.model": ""})
    events, rejected = decode_message(encode([good1, bad, good2]))
    assert [e["event.id"] for e in events] == ["a", "b"]
    assert rejected[0].index == 1 and rejected[0].field == "gen_ai.request.model"
    assert orjson.loads(rejected[0].original)["event.id"] == "c", "only the bad element is dead-lettered"


def test_evaluation_and_feedback_events_are_accepted():
    evaluation = {"event.kind": "evaluation", "event.id": "v", "time_unix_nano": T0, "service.name": "s",
                  "app.evaluation.results": [{"gen_ai.evaluation.name": "faithfulness",
                                              "gen_ai.evaluation.score.value": 0.9}]}
    feedback = {"event.kind": "feedback", "event.id": "f", "time_unix_nano": T0, "service.name": "s",
                "app.feedback.value": -1}
    events, rejected = decode_message(encode([evaluation, feedback]))
    assert rejected == [] and [e["event.kind"] for e in events] == ["evaluation", "feedback"]


def reference(doc, latest_ns=None):
    """What the field checks alone make of one decoded element: the event, or (field, reason)."""
    try:
        event = validate_event(doc)
    except _Invalid as exc:
        return exc.field, exc.reason
    if latest_ns is not None and event["time_unix_nano"] > latest_ns:
        return "time_unix_nano", "in the future"
    return event


def assert_same_as_the_field_checks(raw: bytes, latest_ns=None):
    """The typed pass changes nothing a user sees: the same events (same keys, same order, same values) and, for
    every rejected element, the reason and dead letter the field checks give."""
    doc = orjson.loads(raw)
    items = doc if isinstance(doc, list) else [doc]
    expected = [reference(orjson.loads(orjson.dumps(item)), latest_ns) for item in items]
    events, rejected = decode_message(raw, latest_ns=latest_ns)
    assert [list(e.items()) for e in events] == [list(e.items()) for e in expected if isinstance(e, dict)]
    bad = [(i, e) for i, e in enumerate(expected) if not isinstance(e, dict)]
    assert [r.field for r in rejected] == [field for _, (field, _) in bad]
    for rejection, (i, (_, reason)) in zip(rejected, bad):
        assert reason in rejection.reason
        original = raw if not isinstance(doc, list) else orjson.dumps(items[i])
        assert rejection.original == original


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(near_valid_events(T0), min_size=1, max_size=4) | json_documents())
def test_typed_decoding_gives_what_the_field_checks_give(doc):
    assume(isinstance(doc, dict) or isinstance(doc, list) and doc)  # not a message rejected whole
    assert_same_as_the_field_checks(orjson.dumps(doc))


@pytest.mark.parametrize("value", ["", " ", "\u2028", "\xa0 \t", "\u200b"])
def test_blank_required_strings_are_judged_as_the_field_checks_judge_them(value):
    assert_same_as_the_field_checks(encode([llm_call(**{"service.name": value}), llm_call(**{"event.id": value})]))


def test_an_event_from_the_future_is_dead_lettered_as_it_was_sent():
    late = {k: v for k, v in llm_call(time_unix_nano=T0 + 10**12).items()}
    events, [rejection] = decode_message(encode([llm_call(), late]), latest_ns=T0 + 1)
    assert len(events) == 1 and "in the future" in rejection.reason
    assert orjson.loads(rejection.original) == late, "no event.kind added to the dead letter"
    assert_same_as_the_field_checks(encode([llm_call(), late]), latest_ns=T0 + 1)


def test_an_alias_with_a_bad_value_beside_its_canonical_name_is_ignored_as_before():
    assert_same_as_the_field_checks(encode(llm_call(**{"gen_ai.system": 5, "gen_ai.usage.prompt_tokens": -1})))
    event = llm_call(**{"gen_ai.usage.prompt_tokens": -1})
    del event["gen_ai.usage.input_tokens"]
    assert decode_message(encode(event))[1][0].field == "gen_ai.usage.input_tokens"
