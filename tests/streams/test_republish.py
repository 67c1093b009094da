"""Which messages the detection agent re-publishes, and that none can make it raise: ``regroup`` reads the services
of a message without building its events, and must answer as if it had decoded them."""
from __future__ import annotations

import orjson
import pytest

from inferwatch.streams.republish import partition_for, regroup

HOME = b"chat"
PARTITIONS = 4
ON_HOME = partition_for(HOME, PARTITIONS)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


STAYS = [  # keyed by its service, on that key's partition, or rejected whole by the detection step
    ("one event", b'{"service.name": "chat", "x": 1}'),
    ("a batch of one service", b'[{"service.name": "chat"}, {"service.name": "chat", "n": [1, 2]}]'),
    ("repeated key: the last value counts", b'{"service.name": "rag", "service.name": "chat"}'),
    ("not JSON", b'{"service.name": "chat"'),
    ("a number out of range in another field", b'{"service.name": "chat", "x": 1e400}'),
    ("empty batch", b"[]"),
    ("no object", b"[1, 2]"),
    ("deep, one service", b'[{"service.name": "chat", "x": ' + nested(600) + b"}]"),
]


@pytest.mark.parametrize("raw", [c[1] for c in STAYS], ids=[c[0] for c in STAYS])
def test_a_message_where_its_events_belong_goes_straight_to_detection(raw):
    assert regroup(raw, HOME, ON_HOME, PARTITIONS) is None


MOVES = [  # (message, key, partition) -> the services it is re-published under
    ("keyed by trace", b'{"service.name": "chat"}', b"trace-1", ON_HOME, [b"chat"]),
    ("right key, wrong partition", b'{"service.name": "chat"}', HOME, (ON_HOME + 1) % PARTITIONS, [b"chat"]),
    ("two services", b'[{"service.name": "chat"}, {"service.name": "rag"}]', HOME, ON_HOME, [b"chat", b"rag"]),
    ("a non-object element", b'[{"service.name": "chat"}, 5]', HOME, ON_HOME, [b"chat", b""]),
    ("a service that is not a string", b'{"service.name": 7}', HOME, ON_HOME, [b""]),
]


@pytest.mark.parametrize("raw,key,partition,services", [c[1:] for c in MOVES], ids=[c[0] for c in MOVES])
def test_a_message_elsewhere_is_regrouped_by_service(raw, key, partition, services):
    regrouped = regroup(raw, key, partition, PARTITIONS)
    assert [k for k, _ in regrouped] == services
    doc = orjson.loads(raw)
    assert sum(len(orjson.loads(v)) for _, v in regrouped) == (len(doc) if isinstance(doc, list) else 1)


@pytest.mark.parametrize("key", [b"trace-1", HOME])
def test_an_event_nested_deeper_than_the_encoder_goes_is_regrouped_not_raised(key):
    """The OpenTelemetry Collector keys by trace id: such a message used to stop the detection agent with
    ``TypeError: Recursion limit reached`` when one of its events held a value nested over 255 levels."""
    raw = b'[{"service.name": "chat", "x": ' + nested(600) + b'}, {"service.name": "rag"}]'
    regrouped = regroup(raw, key, ON_HOME, PARTITIONS)
    assert [k for k, _ in regrouped] == [b"chat", b"rag"]
    assert orjson.loads(regrouped[0][1])[0]["service.name"] == "chat"
