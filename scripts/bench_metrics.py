"""Cost of the dashboard metrics on replay speed: the same simulated file through the worker's per-message step
(``DetectionService.handle``), without and with the LLM metrics, plus one baseline/score export per 5 s of wall time.

    .venv/bin/python scripts/bench_metrics.py --events 60000

Reported as events/s of each and their ratio (one process, the same messages, best of ``--repeat``, CPU time of this process so other load on the machine does not skew the ratio).

``--observe FILE`` times ``LlmMetrics.observe`` alone instead, per event of a JSON-lines file decoded first
(``schema.decode_message``): what the handle-level ratio is too noisy to show on a busy 2-core machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from inferwatch.streams import simulate  # noqa: E402
from inferwatch.streams.config import Settings  # noqa: E402
from inferwatch.streams.detection import DetectionService  # noqa: E402
from inferwatch.streams.llm_metrics import LlmMetrics  # noqa: E402
from inferwatch.streams.schema import decode_message  # noqa: E402
from inferwatch.streams.signal_metrics import SignalMetrics  # noqa: E402

EXPORT_EVERY_S = 5.0


def run(messages: list[bytes], metered: bool, settings: Settings) -> float:
    llm = signals = None
    if metered:
        registry = CollectorRegistry()
        llm = LlmMetrics(registry, settings.detectors.stages)
        signals = SignalMetrics(registry)
    service = DetectionService(settings, store=None, llm=llm, signals=signals)
    started = last_export = time.process_time()
    for raw in messages:
        service.handle(raw)
        if metered and time.process_time() - last_export >= EXPORT_EVERY_S:
            service.export_signals()
            last_export = time.process_time()
    if metered:
        service.export_signals()
    return time.process_time() - started


def observe_cost(path: Path, stages: list[str], repeat: int) -> tuple[int, float]:
    """How many valid events ``path`` holds, and the CPU seconds per event of ``LlmMetrics.observe`` (best of
    ``repeat``, each run into a fresh registry)."""
    events: list[dict] = []
    with path.open("rb") as lines:
        for line in lines:
            events += decode_message(line, max_bytes=len(line))[0]
    best = float("inf")
    for _ in range(repeat):
        observe = LlmMetrics(CollectorRegistry(), stages).observe
        started = time.process_time()
        for event in events:
            observe(event)
        best = min(best, time.process_time() - started)
    return len(events), best / len(events)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--observe", type=Path, metavar="FILE", help="time LlmMetrics.observe alone over FILE")
    args = parser.parse_args()
    settings = Settings()
    if args.observe:
        n, seconds = observe_cost(args.observe, settings.detectors.stages, args.repeat)
        print(f"LlmMetrics.observe: {seconds * 1e6:.2f} us CPU per event ({n} events, best of {args.repeat})")
        return 0
    rate = 20.0
    start = time.time_ns() - int(args.events / rate * 1e9) - 10**12
    events = list(simulate.generate(1, start, args.events / rate, rate, []))[: args.events]
    messages = [orjson.dumps(events[i:i + args.batch_size]) for i in range(0, len(events), args.batch_size)]
    plain = min(run(messages, False, settings) for _ in range(args.repeat))
    metered = min(run(messages, True, settings) for _ in range(args.repeat))
    n = len(events)
    print(f"{n} events in {len(messages)} messages")
    print(f"without metrics: {n / plain:,.0f} events/s")
    print(f"with metrics:    {n / metered:,.0f} events/s")
    print(f"ratio with/without: {plain / metered:.3f} (overhead {100 * (metered / plain - 1):.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
