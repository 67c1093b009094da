"""``inferwatch produce``: publish JSON-lines telemetry from a file or stdin, as an application would.

Each line is one event (or a JSON array of events). Lines are sent as they are parsed, batched per service by
``TelemetryProducer``; validation is the worker's job, so bad lines reach the dead-letter topic with a reason.
"""
from __future__ import annotations

import argparse
import sys

import orjson

from streams.config import Settings
from streams.kafka_security import client_config
from streams.producer import DeliveryError, TelemetryProducer


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("produce", help="publish telemetry events (JSON lines) to Kafka")
    parser.add_argument("file", nargs="?", default="-", help="JSON-lines file, or - for stdin (default)")
    parser.add_argument("--sample", type=float, default=1.0, help="keep this fraction of events (by event.id hash)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    producer = TelemetryProducer(settings.kafka.bootstrap, settings.kafka.telemetry_topic,
                                 batch_size=args.batch_size, sample_rate=args.sample,
                                 config=client_config(settings.kafka))
    stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    unparsable = 0
    with stream:
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
        print(f"inferwatch produce: {exc}", file=sys.stderr)
        return 1
    print(f"sent={producer.delivered} messages sampled_out={producer.sampled_out} skipped_lines={unparsable}",
          file=sys.stderr)
    return 1 if unparsable else 0
