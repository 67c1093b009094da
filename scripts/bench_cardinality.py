"""Memory and speed of the detection engine when a producer floods a key field with distinct values.

    .venv/bin/python scripts/bench_cardinality.py                       # 200k events, 10 vs 200k tenant ids
    .venv/bin/python scripts/bench_cardinality.py --field service.name  # the same with service names

Each run is a fresh child process: simulated events (default detectors and settings) whose ``--field`` is replaced
by one of ``keys`` distinct values, fed straight to ``DetectionEngine.process`` (no Kafka, no decoding). It prints
events/s and the resident memory the engine added (RSS after the run minus RSS once the events were generated),
then the ratios of the many-keys run to the few-keys run: with the series caps (``detectors.max_series_per_service``,
``max_extra_series_per_service``, ``max_services``) memory stays flat however many keys arrive.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--few", type=int, default=10, help="distinct values in the baseline run")
    parser.add_argument("--many", type=int, default=0, help="distinct values in the flood run (default: --events)")
    parser.add_argument("--field", default="app.tenant.id")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
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
