"""The Faust agents: short loops that call into detection and alerting and publish what comes back.

Delivery guarantee: at least once, and state in step with offsets. The detect agent acks a telemetry message (lets
Faust commit its offset) only once a saved checkpoint covers it, in this order, every ``state.checkpoint_interval_s``:
stage the checkpoint while no message is half-handled (``step``), flush the producer (every record that state
emitted, and every re-published message, is in Kafka with ``acks=all``), save the checkpoint, then ack the
messages it covers. Acked at once instead, offsets ran up to a second ahead of the checkpoint, and a worker
SIGKILLed beside a live one handed over state without the events in between (the survivor raised alerts of its own)
or a checkpoint saved before its records were flushed (their pages were never sent): docs/faults.md, case 4. A
rebalance waits for that acknowledgement (at most one checkpoint interval) before it revokes partitions. A stopped
worker (SIGTERM) checkpoints at once, acks, commits and exits by itself; only a crash replays messages since the last
commit; the records they produce again carry the same fingerprint, and the escalation engine deduplicates by
fingerprint, so a replay never pages twice.
"""
from __future__ import annotations

import asyncio
import logging

import faust
import orjson

from inferwatch.alerting.service import AlertingService
from inferwatch.streams import metrics
from inferwatch.streams.app import Topics
from inferwatch.streams.config import Settings
from inferwatch.streams.deadletter import deadletter_headers
from inferwatch.streams.detection import DetectionService
from inferwatch.streams.pipeline import Outcome, internal_error
from inferwatch.streams.republish import regroup, republish

log = logging.getLogger(__name__)

#: Backoff when the alerting store is unreachable: the anomalies agent waits (its offset stays uncommitted)
#: rather than dropping a record, while the detection agent keeps running.
INGEST_RETRY_S = (0.5, 1.0, 2.0, 5.0)
#: anomaly records applied per Redis round trip, and how long the agent waits to fill a batch
ESCALATION_BATCH, ESCALATION_BATCH_WAIT_S = 500, 0.1
#: how often the baseline/score gauges and the consumer lag are refreshed (a scrape interval's worth)
METRICS_EVERY_S = 5.0
#: while the worker stops, how often a checkpoint acks the messages handled since the last one
CHECKPOINT_WHILE_STOPPING_S = 0.2


def add_detection(app: faust.App, topics: Topics, detection: DetectionService, settings: Settings) -> None:
    telemetry = topics.telemetry.get_topic_name()
    detection_topics = {telemetry, topics.by_service.get_topic_name()}
    limits = settings.kafka.max_message_bytes, settings.ingest.max_events_per_message
    lag = metrics.ConsumerLag()
    #: held by whatever changes detector state and sends what came of it; a checkpoint is staged between two holders
    step = asyncio.Lock()
    #: messages handled since the last saved checkpoint, with the stream that acks them
    unsaved: list[tuple[faust.StreamT, faust.EventT]] = []

    @app.agent(topics.detection_input, name="inferwatch.detect", concurrency=1)
    async def detect(stream: faust.StreamT) -> None:
        manual = stream.noack()  # acked by the checkpoint that covers them
        async for event in manual.events():
            async with step:
                await handle_message(event)
                unsaved.append((manual, event))

    async def handle_message(event: faust.EventT) -> None:
        message = event.message
        lag.handled(message.topic, message.partition, message.offset)
        if message.topic == telemetry:  # re-published messages are where they belong: never regrouped again
            partitions = partition_count(app, telemetry, settings.kafka.partitions)
            regrouped = regroup(event.value, event.key, message.partition, partitions, *limits)
            if regrouped is not None:
                metrics.REPARTITIONED.inc()
                await republish(topics.by_service, regrouped, partitions)
                return
        await publish(topics, handle_guarded(detection, event.value, message.partition), message.topic)

    @app.task
    async def checkpoints() -> None:
        """Every ``state.checkpoint_interval_s``, and at once when the worker starts stopping, then until it has
        stopped: not an ``app.timer``, as timers end with the stop's first step while Faust's stop waits for every
        handled message to be acked, and only a checkpoint acks them (a SIGTERMed worker hung until it was killed)."""
        while True:
            if app.should_stop:
                await asyncio.sleep(CHECKPOINT_WHILE_STOPPING_S)
            else:
                await app.sleep(settings.state.checkpoint_interval_s)  # cut short when the worker starts stopping
            await checkpoint()

    async def checkpoint() -> None:
        async with step:
            detection.stage()
            covered = unsaved[:]
            del unsaved[:]
        await app.producer.flush()
        _, failed = detection.save()
        for stream, event in covered:
            if event.message.partition in failed:  # not saved: its offset waits for the next checkpoint that is
                unsaved.append((stream, event))
            else:
                await stream.ack(event)

    @app.timer(METRICS_EVERY_S, name="inferwatch.metrics")
    async def export_metrics() -> None:
        try:  # metrics never stop detection
            detection.export_signals()
            lag.update(metrics.faust_highwaters(app.consumer, detection_topics))
        except Exception:
            log.exception("could not refresh the signal and consumer-lag metrics; retrying on the next tick")

    @app.timer(5.0, name="inferwatch.idle-watermark")
    async def idle_watermark() -> None:
        async with step:
            await publish(topics, Outcome(anomalies=detection.advance_if_idle()))

    # one engine per partition number, fed by partition N of both detection topics
    @app.on_partitions_revoked.connect
    async def on_revoked(sender: faust.App, revoked: set, **kwargs: object) -> None:
        detection.hand_over({tp.partition for tp in revoked if tp.topic in detection_topics})

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: faust.App, assigned: set, **kwargs: object) -> None:
        detection.resume({tp.partition for tp in assigned if tp.topic in detection_topics})


def partition_count(app: faust.App, topic: str, default: int) -> int:
    """The topic's partition count as the consumer's cluster metadata knows it (the configured count until then)."""
    return app.consumer.topic_partitions(topic) or default


def handle_guarded(detection: DetectionService, raw: bytes, partition: int) -> Outcome:
    """The detect agent's barrier: whatever handling one message raises dead-letters that message, so one message
    never stops the agent (the pipeline already has a barrier per event; this one covers the service around it)."""
    try:
        return detection.handle(raw, partition)
    except Exception as exc:
        metrics.INTERNAL_ERRORS.inc()
        log.exception("could not handle a telemetry message (partition %d); dead-lettering it", partition)
        return Outcome(rejections=[internal_error(exc, raw if isinstance(raw, bytes) else b"")])


async def publish(topics: Topics, outcome: Outcome, source_topic: str = "") -> None:
    source_topic = source_topic or topics.telemetry.get_topic_name()
    for rejection in outcome.rejections:
        await topics.dlq.send(value=rejection.original, headers=deadletter_headers(rejection, source_topic))
    for record in outcome.anomalies:
        await topics.anomalies.send(key=str(record.get("fingerprint", "")).encode(), value=orjson.dumps(record))


def add_escalation(app: faust.App, topics: Topics, alerting: AlertingService, tick_every_s: float = 1.0) -> None:
    @app.agent(topics.anomalies, name="inferwatch.escalate", concurrency=1)
    async def escalate(stream: faust.StreamT) -> None:
        # a batch per round trip to Redis; Faust acks the batch's messages only after the next one is asked for
        async for batch in stream.take(ESCALATION_BATCH, within=ESCALATION_BATCH_WAIT_S):
            records = [record for record in map(decode_record, batch) if record is not None]
            if records:
                await ingest_with_retry(alerting, records)

    @app.timer(tick_every_s, name="inferwatch.escalation-tick")
    async def tick() -> None:
        try:  # notifiers do HTTP: run them off the event loop so agents never wait on it
            await asyncio.get_running_loop().run_in_executor(None, alerting.tick)
        except Exception:
            metrics.ESCALATION_AGENT_ERRORS.labels("tick").inc()
            log.exception("escalation tick failed; retrying on the next tick")


def decode_record(raw: bytes | None) -> dict | None:
    """An anomaly record off the topic, or None (counted and logged) when it is not a JSON object."""
    try:
        record = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        record = None
    if not isinstance(record, dict):
        metrics.ESCALATION_AGENT_ERRORS.labels("decode").inc()
        log.error("skipping an anomaly record that is not a JSON object (%d bytes)", len(raw or b""))
        return None
    return record


async def ingest_with_retry(alerting: AlertingService, records: list[dict]) -> None:
    """Retried until Redis takes the batch: applying a record twice is a no-op, so nothing is lost or doubled."""
    attempt = 0
    while True:
        try:
            alerting.ingest_many(records)
            return
        except Exception:
            metrics.ESCALATION_AGENT_ERRORS.labels("ingest").inc()
            delay = INGEST_RETRY_S[min(attempt, len(INGEST_RETRY_S) - 1)]
            log.exception("could not record %d anomaly record(s), the first of fingerprint %s; retrying in %.1fs",
                          len(records), records[0].get("fingerprint"), delay)
            attempt += 1
            await asyncio.sleep(delay)
