"""Hypothesis strategies for hostile telemetry, shared by the bounded tests and ``scripts/fuzz_ingest.py``.

They aim at the contract's edges rather than at random noise: the field names the schema knows, with values of every
JSON type, the boundaries of numbers (negative, zero, huge), empty and odd strings, nesting, and bytes that are
almost JSON.
"""
from __future__ import annotations

import orjson
from hypothesis import strategies as st

from inferwatch.streams.schema import ALIASES, COMMON_REQUIRED, EVENT_KINDS, OPTIONAL, REQUIRED

STAGE_FIELDS = ["app.stage.inference.duration", "app.stage.retrieval.duration", "app.stage.odd name.duration"]
FIELDS = sorted({*COMMON_REQUIRED, *OPTIONAL, *ALIASES, *STAGE_FIELDS, "event.kind", "error.type",
                 *(name for fields in REQUIRED.values() for name in fields)})

#: numbers orjson can encode, biased to the edges
numbers = st.one_of(
    st.sampled_from([0, -1, 1, 0.0, -0.0, -1e-300, 1e-300, 1e308, -1e308, 2**63 - 1, -(2**63), 2**64 - 1]),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
strings = st.one_of(st.sampled_from(["", " ", "\n", "null", "openai", "\u200b", "\x00", "🙂" * 50]),
                    st.text(max_size=30))
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)


def json_values(max_leaves: int = 30):
    return st.recursive(scalars, lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), children, max_size=5),
    ), max_leaves=max_leaves)


def json_documents():
    """Objects with known field names, batches of them, and any other JSON value."""
    value = st.one_of(scalars, st.lists(scalars, max_size=3), json_values(4))
    event = st.dictionaries(st.sampled_from(FIELDS), value, max_size=8)
    return st.one_of(event, st.lists(event, max_size=4), json_values(12))


@st.composite
def _mutated(draw):
    raw = bytearray(orjson.dumps(draw(json_documents())))
    for _ in range(draw(st.integers(1, 4))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        raw[at:at + draw(st.integers(0, 3))] = draw(st.binary(max_size=3))
    return bytes(raw)


def message_bytes():
    """Arbitrary bytes, JSON with a few bytes flipped, and token soup from JSON's own punctuation."""
    soup = st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b":", b",", b"1", b"-", b"e", b"\\", b"null",
                                     b'"event.id"', b"\xff", b" "]), max_size=60).map(b"".join)
    return st.one_of(st.binary(max_size=300), _mutated(), soup)


#: what replaces a field of a valid event: any type, edges included (built once: building strategies is slow)
_REPLACEMENTS = st.one_of(scalars, json_values(4), st.lists(numbers, min_size=1, max_size=4))
_EVENT_IDS = st.sampled_from(["a", "b", "c"]) | st.text(min_size=1, max_size=8)


@st.composite
def near_valid_events(draw, t0: int):
    """A valid LLM call (or evaluation, or feedback) with a few fields replaced by values of any type or edge."""
    event = {"event.id": draw(_EVENT_IDS),
             "time_unix_nano": t0 + draw(st.integers(0, 120 * 10**9)),
             "service.name": draw(st.sampled_from(["chat", "search"])), "gen_ai.provider.name": "openai",
             "gen_ai.request.model": "m", "gen_ai.operation.name": "chat", "gen_ai.client.operation.duration": 0.5}
    kind = draw(st.sampled_from([*EVENT_KINDS, None]))
    if kind is not None:
        event["event.kind"] = kind
    if kind == "feedback":
        event["app.feedback.value"] = draw(numbers)
    if kind == "evaluation":
        event["app.evaluation.results"] = [{"gen_ai.evaluation.name": draw(strings), "gen_ai.evaluation.score.value":
                                            draw(numbers)}]
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        event[name] = draw(_REPLACEMENTS)
    return event
