"""What validating the config file costs: load+validate time of the default and of a large configuration, and what
importing the loader adds to a process's start, as ratios measured in one run (the machine is shared; absolute
times vary with its load, ratios much less).

    .venv/bin/python scripts/bench_config.py [--routes 50]

docs/configuration.md (Validation) quotes a run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import timeit
from typing import Any

from inferwatch.streams.config import settings_from_mapping

#: fresh interpreters timed for the start-up cost: pydantic's import, the settings module's, the same plus one load
#: (which builds the validator), the whole CLI's. What pydantic adds is its import plus loaded minus imported.
START_UP = {
    "pydantic imported": "from pydantic import ConfigDict, TypeAdapter, ValidationError",
    "config imported": "import inferwatch.streams.config",
    "config imported and loaded": "from inferwatch.streams.config import load_settings; load_settings(env={})",
    "CLI imported": "import inferwatch.streams.cli",
}


def large_config(n: int) -> dict[str, Any]:
    """``n`` targets, policies, routes and SLOs: a big organisation's file."""
    policies = {f"p{i}": {"levels": [{"targets": [f"t{i}"], "timeout_s": 300}, {"targets": [f"t{(i + 1) % n}"]}]}
                for i in range(n)}
    return {"kafka": {"bootstrap": "k:9092", "partitions": 12},
            "detectors": {"bucket_s": 30, "slos": [{"name": f"slo{i}", "indicator": "latency", "threshold": 2.0,
                                                    "selector": {"service.name": f"svc{i}"}} for i in range(n)]},
            "alerting": {"targets": {f"t{i}": {"type": "slack", "channel": f"C{i:04d}"} for i in range(n)},
                         "policies": {"default": {"levels": [{"targets": ["t0"]}]}, **policies},
                         "routes": [{"match": {"service.name": f"svc{i}", "severity": "critical"}, "policy": f"p{i}"}
                                    for i in range(n)]}}


def best_us(data: dict[str, Any], number: int = 20) -> float:
    settings_from_mapping(data)  # the validator is built on first use; start-up pays that, not each load
    return min(timeit.repeat(lambda: settings_from_mapping(data), number=number, repeat=5)) / number * 1e6


def start_up_ms(code: str, repeat: int = 3) -> float:
    run = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    return min(float(subprocess.run([sys.executable, "-c", run], check=True, capture_output=True, text=True).stdout)
               for _ in range(repeat)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=50, help="targets, policies, routes and SLOs of the large file")
    args = parser.parse_args()
    default, large = best_us({}), best_us(large_config(args.routes))
    print(f"load+validate: default {default:,.0f} us, {args.routes} routes {large:,.0f} us ({large / default:.0f}x)")
    times = {name: start_up_ms(code) for name, code in START_UP.items()}
    for name, ms in times.items():
        print(f"start-up, {name}: {ms:,.0f} ms ({ms / times['CLI imported']:.0%} of the CLI's import)")
    added = times["pydantic imported"] + times["config imported and loaded"] - times["config imported"]
    print(f"start-up added by pydantic (import + validator build): {added:,.0f} ms "
          f"({added / times['CLI imported']:.0%} of the CLI's import)")


if __name__ == "__main__":
    main()
