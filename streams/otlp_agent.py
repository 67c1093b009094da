"""The OTLP agent: spans from ``kafka.otlp_topic`` to our events, re-published to the telemetry topic.

Why through the telemetry topic rather than straight into a detection engine: the Collector keys its messages by
trace id (or not at all), so one series (service, provider, model) is spread over every partition of the OTLP
topic. Re-published keyed by ``service.name`` on that key's partition (streams/republish.py, the mechanism that
also re-partitions our own JSON when it is keyed otherwise), each series lands on one telemetry partition, so one
engine judges all of it, however many workers share the OTLP topic; and converted events are validated and
dead-lettered by the very agent that handles our own JSON.

One converter (trace assembler) per OTLP partition: spans of one trace meet when the Collector keys by trace id
(``partition_traces_by_id: true``), or when the topic has one partition. Delivery is at least once as elsewhere:
offsets are committed after Faust has flushed what was sent (streams/agents.py). Traces held in an assembler are
forwarded when their partition is revoked, but lost if the worker crashes (streams/otlp/traces.py).
"""
from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from typing import Callable, Iterable

import faust
from prometheus_client import Counter

from inferwatch.streams.agents import partition_count
from inferwatch.streams.app import Topics
from inferwatch.streams.config import Settings
from inferwatch.streams.deadletter import deadletter_headers
from inferwatch.streams.metrics import REGISTRY
from inferwatch.streams.otlp.convert import OtlpConverter
from inferwatch.streams.republish import batches_by_service, republish
from inferwatch.streams.schema import Rejection

log = logging.getLogger(__name__)

#: how often held traces are checked against the wall-clock wait when no spans arrive
EXPIRE_EVERY_S = 5.0
OTLP = Counter("inferwatch_otlp_total", "OTLP spans by kind (call_spans, stage_spans, other_spans) and traces by "
               "outcome (complete, timed_out, evicted)", ["outcome"], registry=REGISTRY)


def add_otlp_conversion(app: faust.App, topics: Topics, settings: Settings,
                        clock: Callable[[], float] = time.monotonic) -> None:
    if topics.otlp is None:
        return
    otlp_topic = topics.otlp.get_topic_name()
    stages = settings.detectors.stages
    converters: dict[int, OtlpConverter] = {}
    counted: dict[int, Tally] = {}

    def converter(partition: int) -> OtlpConverter:
        if partition not in converters:
            converters[partition] = OtlpConverter(stages, settings.kafka.max_message_bytes, settings.otlp.trace_wait_s,
                                                  settings.otlp.max_traces, clock=clock)
            counted[partition] = Tally()
        return converters[partition]

    async def forward(partition: int, events: Iterable[dict], rejections: list[Rejection] = ()) -> None:
        for rejection in rejections:
            await topics.dlq.send(value=rejection.original, headers=deadletter_headers(rejection, otlp_topic))
        await republish(topics.telemetry, batches_by_service(events),
                        partition_count(app, topics.telemetry.get_topic_name(), settings.kafka.partitions))
        stats, seen = converters[partition].stats, counted[partition]
        for outcome, total in stats.items():
            if total > seen[outcome]:
                OTLP.labels(outcome).inc(total - seen[outcome])
                seen[outcome] = total

    @app.agent(topics.otlp, name="inferwatch.otlp", concurrency=1)
    async def convert(stream: faust.StreamT) -> None:
        async for event in stream.events():
            partition = event.message.partition
            events, rejections = converter(partition).handle(event.value)
            await forward(partition, events, rejections)

    @app.timer(EXPIRE_EVERY_S, name="inferwatch.otlp-expire")
    async def expire() -> None:
        for partition, held in list(converters.items()):
            await forward(partition, held.expire())

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: faust.App, revoked: set, **kwargs: object) -> None:
        for tp in revoked:
            if tp.topic == otlp_topic and tp.partition in converters:
                await forward(tp.partition, converters[tp.partition].drain())
                del converters[tp.partition]
