"""``inferwatch demo`` end to end on the real broker and Redis: what ``make demo`` runs after starting the stack."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inferwatch.streams.config import load_settings

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


def test_demo_detects_what_it_injects_and_pages_it_to_the_outbox(pipeline_config):
    result = subprocess.run([sys.executable, "-m", "inferwatch.streams.cli", "--config", str(pipeline_config), "demo"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    found = re.fullmatch(r"injected=(\d+) detected=(\d+)", last)
    assert found, f"the last line is machine-readable, got {last!r}"
    injected, detected = map(int, found.groups())
    assert injected == 6 and detected == injected, result.stdout[-3000:]
    assert "malformed messages sent to" in result.stdout
    outbox = Path(load_settings(pipeline_config, env={}).alerting.outbox_path)
    pages = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert {p["action"] for p in pages} >= {"send"}, "anomalies reached the console/outbox notifier"
    assert "[inferwatch alert]" in result.stdout
