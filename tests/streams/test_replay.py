"""``inferwatch replay`` keeps going past any one bad line, OTLP lines included (issue 8: one barrier per event)."""
from __future__ import annotations

import io

import orjson

from inferwatch.streams.config import Settings
from inferwatch.streams.replay import Details, replay

T0 = 1_767_225_600 * 10**9


def test_an_otlp_line_our_converter_chokes_on_is_reported_as_an_internal_error_and_the_replay_carries_on():
    event = {"event.id": "e1", "time_unix_nano": T0, "service.name": "chat", "gen_ai.provider.name": "openai",
             "gen_ai.request.model": "m", "gen_ai.operation.name": "chat", "gen_ai.client.operation.duration": 0.7,
             "error.type": None}
    lines = [b'{"resourceSpans": [1]}', b'{"resourceSpans": [{"scopeSpans": [{"spans": ["x"]}]}]}',
             orjson.dumps(event)]
    details = Details()
    _, events, rejected = replay(lines, Settings(), io.BytesIO(), details=details)
    assert (events, rejected) == (1, 2)
    assert details.reasons[0].startswith("line 1: internal error: AttributeError: "), details.reasons
    assert details.reasons[1].startswith("line 2: internal error: AttributeError: "), details.reasons
