"""Long fuzz run of the ingest properties, and what hostile messages cost, as a benchmark command.

    .venv/bin/python scripts/fuzz_ingest.py [--examples 20000] [--seed 0]

1. Runs the three properties of ``tests/streams/test_hostile_input.py`` (arbitrary bytes, arbitrary JSON, near-valid
   events through a real pipeline and engine) on the same strategies, ``--examples`` in all, split evenly: no
   exception may escape, every rejection has a reason that fits a Kafka header, no event hits the internal-error
   barrier. ``make test`` runs the same properties 200 examples each.
2. Times hostile messages against an ordinary one on the same machine, as ratios: a 900 KB batch of 300,000 ``{}``
   (rejected whole by the element cap), a batch element nested 1,000 deep, and a 1,000-event valid batch.
3. What the defences cost ordinary traffic: simulated events in batches of 100 through a real pipeline and engine,
   with the default ingest settings vs. with the dedup window off (the time bound and barrier cannot be turned off).
Prints markdown; exit status 1 if a property failed.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inferwatch.detectors.config import DetectorSettings  # noqa: E402
from inferwatch.detectors.engine import DetectionEngine  # noqa: E402
from inferwatch.streams.config import IngestSettings  # noqa: E402
from inferwatch.detectors.contract import NS  # noqa: E402
from inferwatch.streams.pipeline import TelemetryPipeline  # noqa: E402
from inferwatch.streams.schema import decode_message  # noqa: E402
from inferwatch.streams.simulate import START_NS, generate  # noqa: E402
from tests.streams import test_hostile_input as properties  # noqa: E402

_ELEMENT = re.compile(r"^event \[\d+\]: ")
PROPERTIES = (
    ("arbitrary bytes", properties.BYTES, properties.test_arbitrary_bytes_never_raise, lambda raw: raw),
    ("arbitrary JSON", properties.DOCUMENTS, properties.test_arbitrary_json_never_raises, orjson.dumps),
    ("near-valid batches, real engine", properties.BATCHES,
     properties.test_near_valid_events_are_accepted_or_rejected_by_name_and_never_break_the_engine, orjson.dumps),
)


def run_property(strategy, test, encode, examples: int, run_seed: int) -> tuple[Counter, int, float]:
    """Run ``test``'s body on ``examples`` inputs; tally what decoding said about each (accepted / reason kinds)."""
    inner = test.hypothesis.inner_test
    tally: Counter = Counter()
    count = 0

    def checked(value) -> None:
        nonlocal count
        count += 1
        inner(value)
        events, rejections = decode_message(encode(value))
        tally["events accepted"] += len(events)
        for rejection in rejections:
            tally[f"rejected: {rejection.field or _ELEMENT.sub('', rejection.reason).split(':')[0][:40]}"] += 1

    runner = seed(run_seed)(settings(max_examples=examples, deadline=None, database=None,
                                     suppress_health_check=list(HealthCheck))(given(strategy)(checked)))
    started = time.perf_counter()
    runner()
    return tally, count, time.perf_counter() - started


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def hostile_costs() -> list[tuple[str, int, float, int]]:
    """(message, bytes, seconds to decode, dead letters) for hostile messages and an ordinary 1,000-event batch."""
    good = dict(properties.GOOD)
    messages = {
        "ordinary batch of 1,000 valid events": orjson.dumps([{**good, "event.id": str(i)} for i in range(1000)]),
        "300,000 `{}` in one array (over the cap)": b"[" + b",".join([b"{}"] * 300_000) + b"]",
        "1,000 `{}` in one array (at the cap)": b"[" + b",".join([b"{}"] * 1000) + b"]",
        "batch element nested 1,000 deep": b"[" + orjson.dumps(good) + b', {"x": ' + properties.nested(1000) + b"}]",
        "`event.id` a list nested 1,000 deep": b'{"event.id": ' + properties.nested(1000) + b"}",
    }
    return [(name, len(raw), best_of(lambda raw=raw: decode_message(raw)), len(decode_message(raw)[1]))
            for name, raw in messages.items()]


def defence_cost(minutes: int = 20, rate: float = 20.0, rounds: int = 5) -> tuple[int, float, float]:
    """(events, seconds with default ingest settings, seconds with the dedup window off): the best of ``rounds``
    alternating runs of each, so load from other processes drifts over both alike."""
    events = list(generate(1, START_NS, minutes * 60, rate, []))
    messages = [orjson.dumps(events[i:i + 100]) for i in range(0, len(events), 100)]
    now = START_NS / NS + minutes * 60

    def run(ingest: IngestSettings) -> None:
        pipeline = TelemetryPipeline(DetectionEngine(DetectorSettings()), ingest=ingest, clock=lambda: now)
        for raw in messages:
            pipeline.handle(raw)

    defaults, no_dedup = [], []
    for _ in range(rounds):
        defaults.append(best_of(lambda: run(IngestSettings()), 1))
        no_dedup.append(best_of(lambda: run(IngestSettings(dedup_window_events=0)), 1))
    return len(events), min(defaults), min(no_dedup)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=20_000,
                        help="examples in all, split over the properties (0: only the cost measurements)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    failed = False
    print("| property | examples | seconds | examples/s | failures | what decoding said (top 4) |")
    print("|---|---|---|---|---|---|")
    for name, strategy, test, encode in PROPERTIES if args.examples else ():
        try:
            tally, count, elapsed = run_property(strategy, test, encode, args.examples // len(PROPERTIES), args.seed)
            outcome = "0"
        except Exception as exc:  # hypothesis re-raises the shrunk failing example
            failed, tally, count, elapsed, outcome = True, Counter(), 0, 0.0, f"{type(exc).__name__}: {exc}"[:200]
        top = ", ".join(f"{k} {v}" for k, v in tally.most_common(4))
        print(f"| {name} | {count} | {elapsed:.1f} | {count / elapsed if elapsed else 0:,.0f} | {outcome} | {top} |")
    costs = hostile_costs()
    baseline = costs[0][2]
    print("\n| message | bytes | decode ms | x ordinary batch | dead letters |")
    print("|---|---|---|---|---|")
    for name, size, seconds, letters in costs:
        print(f"| {name} | {size:,} | {seconds * 1000:.1f} | {seconds / baseline:.1f} | {letters} |")
    events, defaults, no_dedup = defence_cost()
    print(f"\nOrdinary traffic ({events:,} events, batches of 100, every default detector): "
          f"{events / defaults:,.0f} events/s with the default ingest settings, {events / no_dedup:,.0f} with the "
          f"dedup window off: ratio {defaults / no_dedup:.3f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
