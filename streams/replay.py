"""``inferwatch replay EVENTS.jsonl``: the whole detector set over a file of events, in event time, offline.

Each line goes through the very step the worker runs per Kafka message (``streams.pipeline.TelemetryPipeline``:
validation, the engine, the watermark), so a replay of yesterday's file gives the anomalies the live pipeline gave.
A line is either our own JSON (one event or a batch) or one OTLP/JSON ``ExportTraceServiceRequest``, as the
OpenTelemetry Collector's file exporter writes them; which, is told per line. OTLP lines go through the converter
the worker's OTLP agent runs (streams/otlp), and traces still held at the end of the file are emitted then.

Anomaly records (the pinned format) go to stdout as JSON lines; progress and a summary (counts by kind and signal,
rejected lines with their first reasons, events/s) go to stderr. The exit code is 1 when the file had input but
not one valid event. The last buckets stay open at the end of the file, as they would online; ``--flush`` closes
them.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import orjson

from inferwatch.detectors.contract import NS
from inferwatch.detectors.engine import DetectionEngine
from inferwatch.streams.otlp.convert import OtlpConverter
from inferwatch.streams.otlp.decode import NotOtlp, request_from_json
from inferwatch.streams.pipeline import TelemetryPipeline, internal_error
from inferwatch.streams.report import ReportRecorder, write_report
from inferwatch.streams.republish import batches_by_service
from inferwatch.streams.schema import Rejection

PROGRESS_EVERY = 100_000
#: rejection reasons kept for the summary (the rest are only counted)
REASONS_SHOWN = 5
_OTLP_LINE = re.compile(rb'\s*\{\s*"resource_?[sS]pans"')


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("replay", help="run every detector over a JSONL file of events (offline)")
    parser.add_argument("events", help="JSON lines: our events (one event or one batch per line) or OTLP/JSON "
                                       "trace export requests (one per line); - = stdin")
    parser.add_argument("--config", default=argparse.SUPPRESS, help="YAML config file")
    parser.add_argument("--flush", action="store_true", help="close the open buckets at the end of the file")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--report", metavar="HTML", help="also write a self-contained HTML backtest report "
                                                         "(docs/replay-report.md)")
    parser.add_argument("--manifest", help="with --report: the incident manifest of `inferwatch simulate`, to mark "
                                           "and score the injected incidents")
    parser.set_defaults(run=run)


@dataclass
class Details:
    """What the summary tells besides counts: the first rejection reasons, and what OTLP lines held."""

    reasons: list[str] = field(default_factory=list)
    otlp_lines: int = 0
    otlp: Counter = field(default_factory=Counter)


def replay(lines, settings, out, flush: bool = False, progress=None,
           details: Details | None = None, report: ReportRecorder | None = None) -> tuple[Counter, int, int]:
    """Feed raw lines through the pipeline, write records to ``out``; returns (counts, events, rejected).
    ``report`` (streams.report) sees every record and each closed bucket's detector state."""
    details = details if details is not None else Details()
    pipeline = TelemetryPipeline(DetectionEngine(settings.detectors), settings.kafka.max_message_bytes,
                                 ingest=settings.ingest)
    # event time may follow the file past today (a synthetic file), step by step: one jump ahead is still rejected
    pipeline.clock = lambda: max(time.time(), pipeline.watermark_ns / NS)
    otlp = settings.otlp
    converter = OtlpConverter(settings.detectors.stages, settings.kafka.max_message_bytes, otlp.trace_wait_s,
                              otlp.max_traces)
    counts: Counter = Counter()
    events = rejected = 0

    def emit(records: list[dict]) -> None:
        for record in records:
            counts[(record["kind"], record["signal"], record["status"])] += 1
            out.write(orjson.dumps(record) + b"\n")
        if report is not None:
            report.add_records(records)

    def handle(raw: bytes, line_no: int) -> None:
        nonlocal events
        outcome = pipeline.handle(raw)
        emit(outcome.anomalies)
        if report is not None:
            report.observe(pipeline)
        note(outcome.rejections, line_no)
        before = events
        events += outcome.events
        if progress and events // PROGRESS_EVERY != before // PROGRESS_EVERY:
            progress(events)

    def note(rejections: list[Rejection], line_no: int) -> None:
        nonlocal rejected
        rejected += len(rejections)
        for rejection in rejections[:REASONS_SHOWN - len(details.reasons)]:
            details.reasons.append(f"line {line_no}: {rejection.reason}")

    def convert(line: bytes, line_no: int) -> list[dict]:
        details.otlp_lines += 1
        try:
            return converter.handle_request(request_from_json(orjson.loads(line)))
        except (orjson.JSONDecodeError, NotOtlp) as exc:
            note([Rejection(str(exc), None, line)], line_no)
        except Exception as exc:  # the per-event barrier, as the worker's: one line never stops the replay
            note([internal_error(exc, line)], line_no)
        return []

    line_no = 0
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        line = line.rstrip(b"\r\n")
        if _OTLP_LINE.match(line):
            for _, batch in batches_by_service(convert(line, line_no)):
                handle(batch, line_no)
        else:
            handle(line, line_no)
    for _, batch in batches_by_service(converter.drain()):
        handle(batch, line_no)
    details.otlp.update(converter.stats)
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

    details = Details()
    report = ReportRecorder.for_settings(settings.detectors) if args.report else None
    with source:
        counts, events, rejected = replay(source, settings, sys.stdout.buffer, args.flush, progress, details, report)
    sys.stdout.flush()
    if report is not None:
        write_report(args.report, report, args.manifest, args.events)
        print(f"replay: report written to {args.report}", file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(f"replay: {events} events ({rejected} rejected) in {elapsed:.1f}s = {events / elapsed:,.0f} events/s; "
          f"{sum(c for (_, _, status), c in counts.items() if status == 'firing')} firing records", file=sys.stderr)
    if details.otlp_lines:
        otlp = details.otlp
        print(f"  OTLP: {details.otlp_lines} lines; spans: {otlp['call_spans']} GenAI calls, {otlp['stage_spans']} "
              f"stages, {otlp['other_spans']} ignored; traces: {otlp['complete']} complete, "
              f"{otlp['timed_out']} without a root (no stages), {otlp['evicted']} evicted", file=sys.stderr)
    for reason in details.reasons:
        print(f"  rejected: {reason}", file=sys.stderr)
    if rejected > len(details.reasons):
        print(f"  ... and {rejected - len(details.reasons)} more rejected", file=sys.stderr)
    for (kind, signal, status), count in sorted(counts.items()):
        print(f"  {kind:<16} {signal:<40} {status:<9} {count}", file=sys.stderr)
    if rejected and not events:
        print("replay: every event was rejected (first reasons above)", file=sys.stderr)
        return 1
    return 0
