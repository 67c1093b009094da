"""Events/s through the OTLP path against our JSON path, on the same calls, in one run (one core, no Kafka).

The calls are RAG requests made with the real OpenTelemetry SDK (a root span, a retriever span, an LLM span) and
encoded with the SDK's OTLP encoders in batches of ``--batch`` spans per message, as the Collector's Kafka exporter
would write them. Three paths, each from raw message bytes to the detection engine:

- JSON: the events the OTLP path produced, as our own JSON batches (what ``TelemetryProducer`` publishes);
- OTLP proto / OTLP JSON: decode, convert, assemble traces, re-encode as our JSON batches, then the JSON path.

    .venv/bin/python scripts/bench_otlp.py --requests 20000
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inferwatch.detectors.engine import DetectionEngine  # noqa: E402
from inferwatch.streams.config import Settings  # noqa: E402
from inferwatch.streams.otlp.convert import OtlpConverter  # noqa: E402
from inferwatch.streams.republish import batches_by_service  # noqa: E402
from inferwatch.streams.pipeline import TelemetryPipeline  # noqa: E402
from tests.streams.otel_sdk import Recorder, encode  # noqa: E402


def spans(requests: int) -> list:
    app = Recorder(service="rag-api")
    out = []
    for i in range(requests):
        at = i * 0.05
        root = app.start("POST /ask", at, **{"app.tenant.id": f"t{i % 20}", "app.route": "/ask"})
        app.span("vector search", at, at + 0.1, parent=root, **{"openinference.span.kind": "RETRIEVER"})
        app.span("chat", at + 0.1, at + 0.9 + (i % 7) * 0.01, parent=root,
                 **{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 400 + i % 50,
                    "gen_ai.usage.output_tokens": 90, "app.tenant.id": f"t{i % 20}", "app.cost.usd": 0.002})
        root.end(end_time=root.start_time + int(1.0e9))
        if i % 1000 == 999:
            out += app.take()
    return out + app.take()


def run_json(messages: list[bytes], settings: Settings) -> tuple[int, float]:
    pipeline = TelemetryPipeline(DetectionEngine(settings.detectors))
    started = time.perf_counter()
    events = sum(pipeline.handle(raw).events for raw in messages)
    return events, time.perf_counter() - started


def run_otlp(messages: list[bytes], settings: Settings) -> tuple[int, float, list[dict]]:
    pipeline = TelemetryPipeline(DetectionEngine(settings.detectors))
    converter = OtlpConverter(settings.detectors.stages)
    converted: list[dict] = []
    events = 0
    started = time.perf_counter()
    for raw in messages:
        out, _ = converter.handle(raw)
        converted += out
        for _, batch in batches_by_service(out):
            events += pipeline.handle(batch).events
    return events, time.perf_counter() - started, converted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=300, help="spans per OTLP message (100 requests)")
    args = parser.parse_args()
    settings = Settings()
    made = spans(args.requests)
    chunks = [made[i:i + args.batch] for i in range(0, len(made), args.batch)]
    results = {}
    converted: list[dict] = []
    for encoding in ("otlp_proto", "otlp_json"):
        messages = [encode(chunk, encoding) for chunk in chunks]
        events, seconds, converted = run_otlp(messages, settings)
        results[encoding] = (events, seconds, sum(map(len, messages)))
    json_messages = [value for _, value in batches_by_service(converted, max_events=args.batch // 3)]
    events, seconds = run_json(json_messages, settings)
    results["our JSON"] = (events, seconds, sum(map(len, json_messages)))
    base = results["our JSON"][0] / results["our JSON"][1]
    print(f"{args.requests} RAG requests ({len(made)} spans), {len(chunks)} messages per path")
    print("| path | events | bytes | events/s | ratio to our JSON |")
    print("| --- | --- | --- | --- | --- |")
    for name, (n, s, size) in results.items():
        print(f"| {name} | {n} | {size:,} | {n / s:,.0f} | {n / s / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
