"""``inferwatch produce``: publish JSON-lines telemetry from a file or stdin, as an application would.

Each line is one event (or a JSON array of events). Lines are sent as they are parsed, batched per service by
``TelemetryProducer``; validation is the worker's job, so bad lines reach the dead-letter topic with a reason.

Before reading a line it asks the cluster for its metadata (``ensure_reachable``), so an unreachable broker or a
refused login is one line within ``REACHABLE_TIMEOUT_S`` instead of a 30 s flush timeout and a screen of retries.
"""
from __future__ import annotations

import argparse
import logging
import sys

import orjson
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from inferwatch.alerting.command_line import UserError
from inferwatch.streams.config import KafkaSettings, Settings
from inferwatch.streams.kafka_security import client_config, describe_client, list_topics_or_fail, watched
from inferwatch.streams.producer import DeliveryError, TelemetryProducer

#: how long a command waits for the cluster's metadata before saying it cannot reach it
REACHABLE_TIMEOUT_S = 5.0


def ensure_reachable(kafka: KafkaSettings, timeout_s: float = REACHABLE_TIMEOUT_S) -> None:
    """Return once the cluster answers a metadata request; ``UserError`` if it does not within ``timeout_s``.

    A refused login or certificate raises ``KafkaAccessError`` at once (``list_topics_or_fail``). The client's own
    "retrying" warning is held back while we wait: the error we raise says the same, once.
    """
    config, watch = watched(client_config(kafka))
    quiet = logging.getLogger("inferwatch.streams.kafka_security")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        list_topics_or_fail(AdminClient(config), watch, timeout_s)
    except KafkaException:
        raise UserError(f"cannot reach Kafka {describe_client(config)} within {timeout_s:g}s: is the broker running? "
                        f"(set INFERWATCH_KAFKA_BOOTSTRAP or kafka.bootstrap)") from None
    finally:
        quiet.setLevel(level)


def sample_rate(text: str) -> float:
    """A fraction in (0, 1], for ``--sample``."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"--sample must be in (0, 1], got {text}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1, for ``--batch-size``."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("produce", help="publish telemetry events (JSON lines) to Kafka")
    parser.add_argument("file", nargs="?", default="-", help="JSON-lines file, or - for stdin (default)")
    parser.add_argument("--sample", type=sample_rate, default=1.0,
                        help="keep this fraction of events, in (0, 1] (by event.id hash; default 1)")
    parser.add_argument("--batch-size", type=positive_int, default=100,
                        help="events per Kafka message, batched per service (default 100)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # a missing file fails before Kafka
    unparsable = 0
    with stream:
        ensure_reachable(settings.kafka)
        producer = TelemetryProducer(settings.kafka.bootstrap, settings.kafka.telemetry_topic,
                                     batch_size=args.batch_size, sample_rate=args.sample,
                                     config=client_config(settings.kafka))
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                unparsable += 1
                print(f"line {number}: not valid JSON, skipped", file=sys.stderr)
                continue
            events = doc if isinstance(doc, list) else [doc]
            if not all(isinstance(event, dict) for event in events):
                unparsable += 1
                print(f"line {number}: not an event object (or array of them), skipped", file=sys.stderr)
                continue
            for event in events:
                producer.send(event)
    try:
        producer.flush()
    except DeliveryError as exc:
        raise UserError(f"produce: {exc}") from None
    print(f"sent={producer.delivered} messages sampled_out={producer.sampled_out} skipped_lines={unparsable}",
          file=sys.stderr)
    return 1 if unparsable else 0
