"""The labelled detection benchmark and the speed/memory benchmark of ``inferwatch replay``, in one run.

    .venv/bin/python scripts/benchmark.py [--hours 5.5] [--rate 20] [--seeds 11] [--workdir DIR] [--key-sets]

1. Simulates several hours of traffic (six series, 24 tenants, a canary, a compressed 6-hour daily rhythm, noise)
   with one labelled incident of every kind, and the same traffic without incidents (``--seeds`` repeats both).
2. Replays both through the detectors exactly as ``inferwatch replay`` does, and scores the records against the
   labels: per incident detected? and delay; false-alarm episodes per hour. Checks the targets.
3. Speed on one core: plain JSON decoding of the same file vs the full replay step (decode, validate, every default
   detector), as a ratio measured in the same run; and bytes of checkpointed detector state per series key, by key
   set (model series, tenant series...).
4. With ``--key-sets``: what extra key sets (``detectors.extra_series_keys``) cost: replay speed and state per key
   without any, with the default, and with tenant and route series, on the first seed's file.
Prints markdown (the benchmark tables in README.md come from here); exit status 1 if a target is missed.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inferwatch.detectors.config import DetectorSettings  # noqa: E402
from inferwatch.detectors.engine import DetectionEngine  # noqa: E402
from inferwatch.detectors.evaluation import evaluate  # noqa: E402
from inferwatch.detectors.incidents import INCIDENT_KINDS, parse_incident  # noqa: E402
from inferwatch.detectors.state import InMemoryStateStore  # noqa: E402
from inferwatch.streams.config import Settings  # noqa: E402
from inferwatch.streams.replay import replay  # noqa: E402
from inferwatch.streams.simulate import START_NS, generate  # noqa: E402

#: one incident of every kind, spaced so each is judged on its own (minutes after the start)
INCIDENTS = [
    "latency_spike@40m+5m:service.name=support-bot,gen_ai.request.model=gpt-4o",
    "error_burst@60m+4m:service.name=search-summarizer,gen_ai.request.model=gpt-4o-mini",
    "retrieval_slowdown@50m+5m:service.name=code-assistant,gen_ai.request.model=mistral-large",
    "traffic_surge@80m+6m:app.tenant.id=tenant-007",
    "traffic_stall@100m+8m:service.name=code-assistant,gen_ai.request.model=claude-opus-4",
    "traffic_drop@120m+8m:service.name=search-summarizer,gen_ai.request.model=gemini-2.5-flash",
    "output_collapse@140m+6m:service.name=code-assistant,gen_ai.request.model=mistral-large",
    "latency_creep@160m+40m:service.name=support-bot,gen_ai.request.model=claude-sonnet-4",
    "language_shift@210m+20m:service.name=support-bot",
    "quality_drop@240m+20m:service.name=search-summarizer,gen_ai.request.model=gpt-4o-mini",
    "canary_regression@270m+10m:service.name=support-bot,app.variant=canary",
    "safety_wave@290m+8m:service.name=code-assistant,gen_ai.request.model=claude-opus-4",
    "embedding_shift@300m+20m:service.name=search-summarizer,gen_ai.request.model=gpt-4o-mini",
]
DAY_S = 6 * 3600.0
TARGET_DELAY_S = 120.0
TARGET_FA_INCIDENTS = 1.0
TARGET_FA_CLEAN = 0.5


def write_events(path: Path, seed: int, duration_s: float, rate: float, incidents) -> int:
    count = 0
    with path.open("wb") as f:
        for event in generate(seed, START_NS, duration_s, rate, incidents, day_s=DAY_S):
            f.write(orjson.dumps(event) + b"\n")
            count += 1
    return count


def run_replay(path: Path, settings: Settings) -> tuple[list[dict], float]:
    out = io.BytesIO()
    started = time.perf_counter()
    with path.open("rb") as f:
        replay(f, settings, out)
    elapsed = time.perf_counter() - started
    return [json.loads(line) for line in out.getvalue().splitlines()], elapsed


def json_decode_seconds(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            orjson.loads(line)
    return time.perf_counter() - started


#: extra key sets compared by ``--key-sets``
KEY_SET_CHOICES = {
    "none": [],
    "default": DetectorSettings().extra_series_keys,
    "tenant + route": [["service.name", "app.tenant.id"], ["service.name", "app.route"]],
}


def state_bytes(path: Path, detectors: DetectorSettings) -> dict[str, list[int]]:
    """Bytes of each series' checkpoint at the end of the file, by key set (the fields of the series key)."""
    store = InMemoryStateStore()
    engine = DetectionEngine(detectors, store)
    with path.open("rb") as f:
        for line in f:
            engine.process(orjson.loads(line))
    engine.checkpoint()
    sizes: dict[str, list[int]] = {}
    for key, state in store.items.items():
        fields = "+".join(json.loads(key)) if key.startswith("{") else "+".join(detectors.series_key)
        sizes.setdefault(fields, []).append(len(state))
    return sizes


def print_state_bytes(sizes: dict[str, list[int]]) -> None:
    print("\n| key set | keys | mean bytes/key | max bytes/key |\n|---|---|---|---|")
    for fields, values in sizes.items():
        print(f"| {fields} | {len(values)} | {statistics.mean(values):,.0f} | {max(values):,} |")


def key_set_costs(path: Path, settings: Settings) -> None:
    """Replay speed and state per key with each choice of extra key sets, on one file, in one run."""
    print("\n### extra key sets: cost (same file, same run)\n")
    print("| extra_series_keys | replay (events/s) | ratio to JSON decode | series | mean bytes/key, all series |")
    print("|---|---|---|---|---|")
    with path.open("rb") as f:
        n = sum(1 for _ in f)
    decode_s = json_decode_seconds(path)
    for name, keys in KEY_SET_CHOICES.items():
        chosen = dataclasses.replace(settings, detectors=dataclasses.replace(settings.detectors,
                                                                             extra_series_keys=keys))
        _, replay_s = run_replay(path, chosen)
        sizes = [size for values in state_bytes(path, chosen.detectors).values() for size in values]
        print(f"| {name}: {keys} | {n / replay_s:,.0f} | {decode_s / replay_s:.3f} | {len(sizes)} | "
              f"{statistics.mean(sizes):,.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=5.5)
    parser.add_argument("--rate", type=float, default=20.0, help="mean calls/s before the daily rhythm")
    parser.add_argument("--seeds", default="11", help="comma-separated simulator seeds")
    parser.add_argument("--workdir", help="keep the generated files here (default: a temporary directory)")
    parser.add_argument("--key-sets", action="store_true", help="also compare the cost of extra key sets")
    args = parser.parse_args()
    settings = Settings()
    duration_s = args.hours * 3600
    incidents = [parse_incident(spec) for spec in INCIDENTS]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="inferwatch-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ok = True
    speed_rows = []
    summary: dict[int, dict[str, str]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        for label, injected in (("incidents", incidents), ("clean", [])):
            path = workdir / f"events-{label}-{seed}.jsonl"
            n = write_events(path, seed, duration_s, args.rate, injected)
            decode_s = json_decode_seconds(path)
            records, replay_s = run_replay(path, settings)
            report = evaluate(records, injected, duration_s, start_ns=START_NS)
            speed_rows.append((label, seed, n, n / decode_s, n / replay_s))
            print(f"\n### {label}, seed {seed}: {args.hours} h, {n} events\n")
            if injected:
                print(report.table())
                median = report.median_delay_s()
                missed = [r.kind for r in report.rows if not r.detected]
                ok &= not missed and median is not None and median < TARGET_DELAY_S
                ok &= report.false_alarm_episodes_per_hour <= TARGET_FA_INCIDENTS
                kinds = {r.kind for r in report.rows if r.detected}
                print(f"\nincident kinds detected: {len(kinds)}/{len(INCIDENT_KINDS)}")
                summary.setdefault(seed, {}).update(
                    kinds=f"{len(kinds)}/{len(INCIDENT_KINDS)}", delay="-" if median is None else f"{median:.0f} s",
                    fa_incidents=f"{report.false_alarm_episodes_per_hour:.2f}")
            else:
                print(f"false_alarm_episodes={report.false_alarm_episodes} "
                      f"per_hour={report.false_alarm_episodes_per_hour}")
                ok &= report.false_alarm_episodes_per_hour <= TARGET_FA_CLEAN
                summary.setdefault(seed, {})["fa_clean"] = f"{report.false_alarm_episodes_per_hour:.2f}"
            for fa in report.false_alarms:
                print(f"  false alarm: t={(fa['time_unix_nano'] - START_NS) / 1e9:.0f}s {fa['signal']} "
                      f"{fa['labels']} value={fa['value']} expected={fa['expected']}")
    print("\n### per seed\n")
    print("| seed | kinds detected | median delay, sudden kinds | false-alarm episodes/h, with incidents | "
          "false-alarm episodes/h, clean |\n|---|---|---|---|---|")
    for seed, row in summary.items():
        print(f"| {seed} | {row.get('kinds', '-')} | {row.get('delay', '-')} | {row.get('fa_incidents', '-')} | "
              f"{row.get('fa_clean', '-')} |")
    print("\n### speed (one core, same file, same run)\n")
    print("| run | seed | events | JSON decode only (events/s) | replay, all detectors (events/s) | ratio |")
    print("|---|---|---|---|---|---|")
    for label, seed, n, decode_rate, replay_rate in speed_rows:
        print(f"| {label} | {seed} | {n} | {decode_rate:,.0f} | {replay_rate:,.0f} | {replay_rate / decode_rate:.3f} |")
    first = workdir / f"events-incidents-{args.seeds.split(',')[0]}.jsonl"
    print("\ndetector state per series key (pickled checkpoint at the end of the first file), by key set:")
    print_state_bytes(state_bytes(first, settings.detectors))
    if args.key_sets:
        key_set_costs(first, settings)
    slowest = min(r[4] for r in speed_rows)
    print(f"\ntargets: every kind detected, median sudden delay < {TARGET_DELAY_S:.0f}s, "
          f"<= {TARGET_FA_INCIDENTS}/h false alarms with incidents, <= {TARGET_FA_CLEAN}/h clean, "
          f">= 20,000 events/s: {'MET' if ok and slowest >= 20000 else 'MISSED'}")
    return 0 if ok and slowest >= 20000 else 1


if __name__ == "__main__":
    sys.exit(main())
