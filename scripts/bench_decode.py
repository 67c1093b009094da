"""Decoding against plain JSON decoding, on one core: CPU seconds per event of the same lines, in one run.

What it prints, per line of a JSONL file (``inferwatch simulate --out FILE``): ``orjson.loads`` alone (the
baseline), ``streams.schema.decode_message`` (decoding and validation), ``streams.republish.regroup`` (what the
agent reads before the detection step; keyed by the first event's service, on one partition) and ``streams.replay.replay`` (what ``inferwatch replay`` runs), each as
events per CPU-second and as a ratio to the baseline (1.0 = as fast as plain decoding). CPU time, not wall time,
because the machine is shared.

    .venv/bin/python scripts/bench_decode.py /tmp/events.jsonl --lines 20000
"""
from __future__ import annotations

import argparse
import io
import itertools
import json
import time

import orjson

from inferwatch.streams.config import load_settings
from inferwatch.streams.replay import replay
from inferwatch.streams.republish import regroup
from inferwatch.streams.schema import decode_message


def cpu_s(step, lines: list[bytes]) -> float:
    started = time.process_time()
    for line in lines:
        step(line)
    return time.process_time() - started


def service_key(line: bytes) -> bytes:
    """The key of a producer that keys by service: the first event's ``service.name``."""
    doc = orjson.loads(line)
    return (doc[0] if isinstance(doc, list) else doc)["service.name"].encode()


def measure(lines: list[bytes]) -> dict:
    events = sum(len(doc) if isinstance(doc, list) else 1 for doc in map(orjson.loads, lines))
    settings = load_settings(env={})
    steps = {
        "orjson.loads": orjson.loads,
        "decode_message": decode_message,
    }
    keys = {id(line): service_key(line) for line in lines}
    # one partition: a message keyed by its service is where it belongs, a mixed batch is re-published
    steps["regroup"] = lambda line: regroup(line, keys[id(line)], 0, 1)
    seconds = {name: cpu_s(step, lines) for name, step in steps.items()}
    started = time.process_time()
    replay(lines, settings, io.BytesIO())
    seconds["replay"] = time.process_time() - started
    base = seconds["orjson.loads"]
    return {"lines": len(lines), "events": events,
            "steps": {name: {"events_per_cpu_s": round(events / s), "ratio": round(base / s, 3)}
                      for name, s in seconds.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("events", help="JSON lines (one event or one batch per line)")
    parser.add_argument("--lines", type=int, default=20_000, help="lines read from the start of the file")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    with open(args.events, "rb") as source:
        lines = [line.rstrip(b"\r\n") for line in itertools.islice(source, args.lines) if line.strip()]
    result = measure(lines)
    print(f"{result['lines']} lines, {result['events']} events, CPU time on one core:")
    for name, step in result["steps"].items():
        print(f"  {name:<15} {step['events_per_cpu_s']:>10,} events/CPU-s   ratio to orjson.loads {step['ratio']}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
