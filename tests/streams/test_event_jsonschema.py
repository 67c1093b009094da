"""The published JSON Schema stays in step with streams/schema.py and judges events as the worker does; the producer
helper and the schema import without the worker's heavy dependencies (the light producer path)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from inferwatch.streams import schema
from inferwatch.streams.event_jsonschema import event_json_schema, render

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "telemetry-event.schema.json"
VALID = {"event.id": "e1", "time_unix_nano": 1_767_225_600_000_000_000, "service.name": "checkout",
         "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.operation.name": "chat",
         "gen_ai.client.operation.duration": 0.9, "gen_ai.usage.input_tokens": 412, "app.tenant.id": "acme",
         "app.stage.retrieval.duration": 0.12, "custom.field": {"kept": True}}
CASES = [
    ("valid llm call", VALID, True),
    ("success without error.type", {k: v for k, v in VALID.items() if k != "error.type"}, True),
    ("missing event.id", {k: v for k, v in VALID.items() if k != "event.id"}, False),
    ("time in seconds", {**VALID, "time_unix_nano": 1_767_225_600}, False),
    ("negative duration", {**VALID, "gen_ai.client.operation.duration": -1}, False),
    ("tokens as a string", {**VALID, "gen_ai.usage.input_tokens": "412"}, False),
    ("stage duration as a string", {**VALID, "app.stage.retrieval.duration": "fast"}, False),
    ("llm call without model", {k: v for k, v in VALID.items() if k != "gen_ai.request.model"}, False),
    ("unknown kind", {**VALID, "event.kind": "span"}, False),
    ("feedback", {"event.id": "f", "time_unix_nano": VALID["time_unix_nano"], "service.name": "s",
                  "event.kind": "feedback", "app.feedback.value": 1}, True),
    ("evaluation without a score", {"event.id": "v", "time_unix_nano": VALID["time_unix_nano"],
                                    "service.name": "s", "event.kind": "evaluation"}, False),
]


def test_committed_schema_is_what_the_code_generates():
    assert SCHEMA_FILE.read_text() == render(), "run: python -m streams.event_jsonschema > " + str(SCHEMA_FILE)


@pytest.mark.parametrize("name, event, valid", CASES, ids=[c[0] for c in CASES])
def test_json_schema_and_worker_agree(name, event, valid):
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    assert validator.is_valid(event) is valid
    try:
        schema.validate_event(event)
        accepted = True
    except schema._Invalid:
        accepted = False
    assert accepted is valid, "the worker judges this event the same way"


def test_schema_itself_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(event_json_schema())


def test_producer_and_schema_import_without_worker_dependencies():
    """What ``pip install`` of the light producer would ship: streams.producer and streams.schema, importable and
    usable with confluent-kafka and orjson alone (the heavy packages are made unimportable first)."""
    heavy = ["faust", "mode", "river", "scipy", "numpy", "slack_sdk", "pagerduty", "redis", "aiokafka", "yaml",
             "prometheus_client", "detectors", "alerting"]
    code = "\n".join([
        "import sys",
        *(f"sys.modules[{name!r}] = None" for name in heavy),
        "from streams.producer import TelemetryProducer",
        "from streams.schema import decode_message",
        "from streams.kafka_security import client_config",
        "p = TelemetryProducer('127.0.0.1:1', 't')",
        "events, rejected = decode_message(b'{\"event.id\": \"x\"}')[:2]",
        "print('ok', len(rejected))",
    ])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "ok"
