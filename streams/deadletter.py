"""What a dead-lettered message looks like: the original bytes as the value, the reason in headers.

Why headers: the value stays byte-for-byte what the producer sent (or, for one bad element of a batch, that element
alone), so a fixed event can be re-published as it is, and any Kafka tool shows the reason next to it.

>>> from inferwatch.streams.schema import Rejection
>>> dict(deadletter_headers(Rejection("missing required field event.id", "event.id", b"{}", 3), "llm.telemetry.v1"))
{'inferwatch.reason': b'missing required field event.id', 'inferwatch.field': b'event.id', \
'inferwatch.source.topic': b'llm.telemetry.v1', 'inferwatch.batch.index': b'3'}
"""
from __future__ import annotations

from inferwatch.streams.schema import Rejection

REASON, FIELD, SOURCE_TOPIC, BATCH_INDEX = (
    "inferwatch.reason", "inferwatch.field", "inferwatch.source.topic", "inferwatch.batch.index")


def deadletter_headers(rejection: Rejection, source_topic: str) -> list[tuple[str, bytes]]:
    headers = [(REASON, rejection.reason.encode()), (FIELD, (rejection.field or "").encode()),
               (SOURCE_TOPIC, source_topic.encode())]
    if rejection.index is not None:
        headers.append((BATCH_INDEX, str(rejection.index).encode()))
    return headers
