"""Memory and speed of the detection engine when a producer floods a key field with distinct values.

    .venv/bin/python scripts/bench_cardinality.py                       # 200k events, 10 vs 200k tenant ids
    .venv/bin/python scripts/bench_cardinality.py --field service.name  # the same with service names

Each run is a fresh child process: simulated events (default detectors and settings) whose ``--field`` is replaced
by one of ``keys`` distinct values, fed straight to ``DetectionEngine.process`` (no Kafka, no decoding). It prints
events/s and the resident memory the engine added (RSS after the run minus RSS once the events were generated),
then the ratios of the many-keys run to the few-keys run: with the series caps (``detectors.max_series_per_service``,
``max_extra_series_per_service``, ``max_services``) memory stays flat however many keys arrive.

    .venv/bin/python scripts/bench_cardinality.py --bucket-close        # 10k idle tenant series vs none

prints the CPU of closing buckets for 10 busy tenant series with ``--idle`` idle ones in memory (each sent one call,
then nothing) against the same with none, and how many series each close judged on every signal and, resting, on
the signals that read silence only (``DetectionEngine.judged``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    """Current resident set size (Linux), in MB: what a worker's container limit is measured against."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(events: int, keys: int, field: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from inferwatch.detectors.config import DetectorSettings
    from inferwatch.detectors.engine import DetectionEngine
    from inferwatch.streams.simulate import START_NS, generate

    base = []
    for i, event in enumerate(generate(seed=1, start_ns=START_NS, duration_s=events / 30, rate_per_s=60,
                                       incidents=[])):
        if i == events:
            break
        base.append({**event, field: f"k{i % keys}"})
    engine = DetectionEngine(DetectorSettings())
    before = rss_mb()
    started = time.perf_counter()
    for event in base:
        engine.process(event)
    seconds = time.perf_counter() - started
    return {"events": len(base), "keys": keys, "seconds": round(seconds, 2),
            "events_per_s": round(len(base) / seconds), "rss_added_mb": round(rss_mb() - before, 1),
            "series": engine.series_count(), "folded_events": engine.counts["series_overflow_events"]}


def bucket_close_seconds(idle: int, closes: int) -> dict:
    """CPU (process time) of ``closes`` bucket closes of 10 busy tenant series, once ``idle`` idle ones rest."""
    sys.path.insert(0, str(ROOT))
    from inferwatch.detectors.config import DetectorSettings
    from inferwatch.detectors.engine import DetectionEngine

    ns, bucket_ns, t0 = 10**9, 15 * 10**9, 1_767_225_600 * 10**9
    settings = DetectorSettings()

    def call(t: int, service: str, tenant: str) -> dict:
        return {"event.id": f"{tenant}/{t}", "time_unix_nano": t, "service.name": service,
                "gen_ai.provider.name": "openai", "gen_ai.request.model": "m", "app.tenant.id": tenant,
                "gen_ai.client.operation.duration": 0.5 + (t // ns) % 7 / 10, "error.type": None}

    engine = DetectionEngine(settings)
    for i in range(idle):  # spread over services: at most max_extra_series_per_service tenants each
        engine.process(call(t0 + i, f"svc-{i % 10}", f"idle-{i}"))

    def bucket(index: int) -> None:
        for i in range(10):
            engine.process(call(t0 + index * bucket_ns + i, "svc-0", f"busy-{i}"))
    warm = settings.long_window_buckets + settings.baseline.warmup_buckets
    for index in range(1, warm):
        bucket(index)
    before = dict(engine.judged)
    started = time.process_time()
    for index in range(warm, warm + closes):
        bucket(index)
    seconds = time.process_time() - started
    return {"idle": idle, "closes": closes, "cpu_s": round(seconds, 3),
            "judged_per_close": {k: (v - before.get(k, 0)) / closes for k, v in engine.judged.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--few", type=int, default=10, help="distinct values in the baseline run")
    parser.add_argument("--many", type=int, default=0, help="distinct values in the flood run (default: --events)")
    parser.add_argument("--field", default="app.tenant.id")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--bucket-close", action="store_true", help="bucket-close CPU with --idle idle series vs none")
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--closes", type=int, default=40)
    args = parser.parse_args()
    if args.bucket_close:
        none, many = bucket_close_seconds(0, args.closes), bucket_close_seconds(args.idle, args.closes)
        print(json.dumps(none))
        print(json.dumps(many))
        print(f"bucket close: {args.idle} idle series vs none: CPU x{many['cpu_s'] / none['cpu_s']:.2f}")
        return 0
    if args.child:
        print(json.dumps(child(args.events, args.child, args.field)))
        return 0
    results = []
    for keys in (args.few, args.many or args.events):
        out = subprocess.run([sys.executable, __file__, "--events", str(args.events), "--field", args.field,
                              "--child", str(keys)], capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(results[-1]))
    few, many = results
    print(f"{args.field}: {many['keys']} keys vs {few['keys']}: memory x{many['rss_added_mb'] / max(few['rss_added_mb'], 1):.2f}, "
          f"speed x{many['events_per_s'] / few['events_per_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
