"""The light producer as an application installs it: the ``inferwatch-producer`` wheel built from ``producer/``, in a
fresh virtual environment with its runtime dependencies only (confluent-kafka, orjson, msgspec), publishes events
the worker accepts."""
from __future__ import annotations

import textwrap
import zipfile
from importlib.metadata import version
from pathlib import Path

from inferwatch.streams.republish import partition_for
from inferwatch.streams.schema import decode_message
from tests.streams.conftest import read_topic
from tests.wheels import build_wheel, fresh_venv, pip_install, run

ROOT = Path(__file__).resolve().parents[2]
#: what publishing needs, at the versions the tests run with (pip's cache serves them)
RUNTIME = [f"confluent-kafka=={version('confluent-kafka')}", f"orjson=={version('orjson')}",
           f"msgspec=={version('msgspec')}"]

APP = textwrap.dedent("""
    import importlib.util, sys
    from inferwatch.streams.producer import TelemetryProducer
    heavy = [name for name in ("faust", "river", "scipy", "slack_sdk", "pagerduty", "redis", "inferwatch.detectors")
             if importlib.util.find_spec(name) is not None]
    assert not heavy, f"installed with the light producer: {heavy}"
    bootstrap, topic = sys.argv[1:3]
    producer = TelemetryProducer(bootstrap, topic, batch_size=10)
    for i in range(3):
        producer.send({"event.id": f"light-{i}", "time_unix_nano": 1767225600000000000 + i,
                       "service.name": "checkout", "gen_ai.provider.name": "openai",
                       "gen_ai.request.model": "gpt-4o", "gen_ai.operation.name": "chat",
                       "gen_ai.client.operation.duration": 0.8})
    producer.flush(30)
    print(producer.delivered)
""")


def test_light_producer_wheel_publishes_from_a_fresh_venv(tmp_path, tmp_path_factory, kafka_bootstrap, new_topic):
    wheel = build_wheel(ROOT / "producer", tmp_path / "wheels", tmp_path_factory.getbasetemp())
    assert wheel.name.startswith("inferwatch_producer-")
    modules = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    assert modules == {"inferwatch/streams/__init__.py", "inferwatch/streams/producer.py",
                       "inferwatch/streams/schema.py", "inferwatch/streams/kafka_security.py"}

    python = fresh_venv(tmp_path / "app-venv")
    pip_install(python, wheel, *RUNTIME)

    topic = new_topic("light-producer", partitions=2)
    app = tmp_path / "app.py"
    app.write_text(APP)
    assert run(python, app, kafka_bootstrap, topic, cwd=tmp_path).strip() == "1", "one batch for one service"

    [message] = read_topic(kafka_bootstrap, topic, until=lambda ms: len(ms) >= 1)
    events, rejections = decode_message(message.value())
    assert [e["event.id"] for e in events] == ["light-0", "light-1", "light-2"] and not rejections
    assert message.key() == b"checkout" and message.partition() == partition_for(b"checkout", 2), \
        "keyed by service on Kafka's default partition: the worker takes it without re-publishing"
