"""``inferwatch replay EVENTS.jsonl``: the whole detector set over a file of events, in event time, offline.

Each line goes through the very step the worker runs per Kafka message (``streams.pipeline.TelemetryPipeline``:
validation, the engine, the watermark), so a replay of yesterday's file gives the anomalies the live pipeline gave.
Anomaly records (the pinned format) go to stdout as JSON lines; progress and a summary (counts by kind and signal,
rejected lines, events/s) go to stderr. The last buckets stay open at the end of the file, as they would online;
``--flush`` closes them.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import orjson

from detectors.engine import DetectionEngine
from streams.pipeline import NS, TelemetryPipeline

PROGRESS_EVERY = 100_000


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("replay", help="run every detector over a JSONL file of events (offline)")
    parser.add_argument("events", help="JSON lines of telemetry events (one event or one batch per line); - = stdin")
    parser.add_argument("--config", default=argparse.SUPPRESS, help="YAML config file")
    parser.add_argument("--flush", action="store_true", help="close the open buckets at the end of the file")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(run=run)


def replay(lines, settings, out, flush: bool = False, progress=None) -> tuple[Counter, int, int]:
    """Feed raw lines through the pipeline, write records to ``out``; returns (counts, events, rejected)."""
    pipeline = TelemetryPipeline(DetectionEngine(settings.detectors), settings.kafka.max_message_bytes)
    counts: Counter = Counter()
    events = rejected = 0

    def emit(records: list[dict]) -> None:
        for record in records:
            counts[(record["kind"], record["signal"], record["status"])] += 1
            out.write(orjson.dumps(record) + b"\n")

    for line in lines:
        if not line.strip():
            continue
        outcome = pipeline.handle(line.rstrip(b"\r\n"))
        emit(outcome.anomalies)
        rejected += len(outcome.rejections)
        before = events
        events += outcome.events
        if progress and events // PROGRESS_EVERY != before // PROGRESS_EVERY:
            progress(events)
    if flush and pipeline.watermark_ns:
        detectors = settings.detectors
        emit(pipeline.advance(pipeline.watermark_ns + int((detectors.bucket_s + detectors.allowed_lateness_s) * NS)))
    return counts, events, rejected


def run(args, settings) -> int:
    started = time.perf_counter()
    source = sys.stdin.buffer if args.events == "-" else open(args.events, "rb")

    def progress(events: int) -> None:
        if not args.quiet:
            print(f"replay: {events} events, {events / (time.perf_counter() - started):,.0f}/s", file=sys.stderr)

    with source:
        counts, events, rejected = replay(source, settings, sys.stdout.buffer, args.flush, progress)
    sys.stdout.flush()
    elapsed = time.perf_counter() - started
    print(f"replay: {events} events ({rejected} rejected) in {elapsed:.1f}s = {events / elapsed:,.0f} events/s; "
          f"{sum(c for (_, _, status), c in counts.items() if status == 'firing')} firing records", file=sys.stderr)
    for (kind, signal, status), count in sorted(counts.items()):
        print(f"  {kind:<16} {signal:<40} {status:<9} {count}", file=sys.stderr)
    return 0
