"""The same events through Kafka and the worker, and through ``inferwatch replay``, give the same anomalies."""
from __future__ import annotations

import subprocess
import sys
import time

import orjson
import pytest
import yaml

from inferwatch.streams.topics import ensure_topics
from tests.streams.conftest import committed_total, decode_records, read_all

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
INCIDENTS = ["latency_spike@2400+600", "error_burst@4200+400", "traffic_surge@5400+600"]


def inferwatch(config, *args: str, stdin=None) -> bytes:
    result = subprocess.run([sys.executable, "-m", "inferwatch.streams.cli", "--config", str(config), *args],
                            input=stdin, capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result.stdout


def test_live_worker_and_replay_emit_identical_records(tmp_path, pipeline_config, workers):
    config = yaml.safe_load(pipeline_config.read_text())
    config["kafka"]["partitions"] = 1  # one partition: the worker sees the file's order exactly
    pipeline_config.write_text(yaml.safe_dump(config))
    events = tmp_path / "events.jsonl"
    incidents = [arg for spec in INCIDENTS for arg in ("--incident", spec)]
    inferwatch(pipeline_config, "simulate", "--seed", "11", "--duration", "2h", "--rate", "4", "--day-length", "0",
               *incidents, "--out", str(events))
    offline = [orjson.loads(line) for line in inferwatch(pipeline_config, "replay", str(events), "--quiet").splitlines()]
    assert {r["kind"] for r in offline} >= {"threshold", "rate", "throughput"}, "the incidents are detected offline"

    from inferwatch.streams.config import load_settings
    settings = load_settings(pipeline_config, env={})
    ensure_topics(settings.kafka)
    inferwatch(pipeline_config, "produce", str(events), "--batch-size", "1")  # one message per line, in file order
    lines = sum(1 for line in events.read_bytes().splitlines() if line.strip())
    workers("detect")
    deadline = time.monotonic() + 240
    while committed_total(settings.kafka.bootstrap, settings.kafka.group_id, settings.kafka.telemetry_topic, 1) < lines:
        assert time.monotonic() < deadline, "the worker did not consume the file"
        time.sleep(0.5)
    last_event_ns = max(orjson.loads(line)["time_unix_nano"] for line in events.read_bytes().splitlines())
    online = [r for r in decode_records(read_all(settings.kafka.bootstrap, settings.kafka.anomalies_topic))
              if r["time_unix_nano"] <= last_event_ns]  # later ones come from the idle wall-clock watermark
    assert online == offline
