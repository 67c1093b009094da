"""The fault suite of issue 8 as a benchmark: every case, then the table of docs/faults.md.

    .venv/bin/python scripts/fault_suite.py [--case NAME ...]

Starts its own Kafka broker and redis-server on free ports (scripts/stack.sh, in a temporary run dir), plus a second
broker for the case that kills one, runs the undisturbed stream and each fault (tests/faults/cases.py, the very code
the tests run), and prints one markdown row per case: pages expected / sent / duplicated / lost, events processed
and anomaly records against the undisturbed run. Exits 1 if any case lost, doubled or changed anything.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import LocalStack  # noqa: E402
from tests.faults import cases  # noqa: E402
from tests.faults.harness import TABLE_HEADER, Lab, stream, table_row  # noqa: E402

CASES = {
    "broker": lambda lab, work: cases.broker_killed(lab, work["broker"]),
    "redis": lambda lab, work: cases.redis_restarted(lab, work["dir"] / "redis"),
    "delivery": lambda lab, work: cases.worker_killed_delivering(lab),
    "rebalance": lambda lab, work: cases.worker_killed_in_group(lab),
    "slack": lambda lab, work: cases.slack_down(lab),
    "pagerduty": lambda lab, work: cases.pagerduty_429_storm(lab),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="run only this case (repeatable)")
    args = parser.parse_args(argv)
    chosen = args.case or list(CASES)
    work_dir = Path(tempfile.mkdtemp(prefix="inferwatch-faults-"))
    stack = LocalStack.on_free_ports(work_dir / "stack")
    broker = LocalStack.on_free_ports(work_dir / "killable-broker")
    rows, clean = [], True
    started = time.monotonic()
    try:
        stack.up()
        if "broker" in chosen:
            broker.up("kafka")
        lab = Lab(work_dir / "lab", stack.kafka_bootstrap, stack.redis_url)
        try:
            undisturbed = lab.undisturbed()
            print(f"undisturbed: {len(stream())} events, {len(undisturbed.pages)} pages, "
                  f"{len(undisturbed.anomalies)} anomaly records, {undisturbed.seconds:.0f} s", file=sys.stderr)
            for name in chosen:
                try:
                    figures = CASES[name](lab, {"broker": broker, "dir": work_dir})
                except AssertionError as exc:  # the case could not be carried out as written: say so, go on
                    rows.append(f"| {name} | case failed: {' '.join(str(exc).split())[:200]} |")
                    clean = False
                    continue
                clean &= figures.clean
                rows.append(table_row(figures))
                print(f"{rows[-1]}\n    {figures.note}", file=sys.stderr)
        finally:
            lab.close()
    finally:
        broker.down()
        stack.down()
    print(TABLE_HEADER)
    print("\n".join(rows))
    print(f"\n{len(stream())} events in the stream; all cases in {time.monotonic() - started:.0f} s "
          f"(brokers and Redis included)")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
