"""Through the real broker: offsets never run ahead of the checkpoint, so whoever takes a SIGKILLed worker's
partitions over restores state that holds every event before the committed offset (docs/faults.md, case 4)."""
from __future__ import annotations

import time

import pytest
import yaml

from inferwatch.streams.config import load_settings
from inferwatch.streams.topics import ensure_topics
from tests.conftest import free_port
from tests.streams.conftest import committed_total, decode_records, events_handled, read_all
from tests.streams.test_worker import T0, episodes, offline_records, publish, traffic, unmatched

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
#: no interval checkpoint falls inside the test: the worker is killed with its state never saved
NEVER_S = 3600.0
PARTITIONS = 2


def settle(port: int, at_least: int, quiet_polls: int = 3, timeout_s: float = 300.0) -> None:
    """Until the worker has handled ``at_least`` events and handles no more (it starts at the committed offset,
    so how many it handles in all is what the test is about)."""
    deadline, last, quiet = time.monotonic() + timeout_s, -1.0, 0
    while quiet < quiet_polls:
        assert time.monotonic() < deadline, f"the next worker handled {last:.0f} of at least {at_least} events"
        handled = events_handled(port)
        quiet = quiet + 1 if handled >= at_least and handled == last else 0
        last = handled
        time.sleep(1.0)


def test_a_worker_killed_before_its_checkpoint_leaves_its_messages_to_the_next_owner(pipeline_config, workers):
    """Faust used to commit handled offsets every second whatever the checkpoint held: killed between the two, a
    worker left offsets past its last checkpoint, and the next owner resumed there with state that never saw the
    events in between (here: none at all, so it warmed up again and missed the incident a minute later)."""
    config = yaml.safe_load(pipeline_config.read_text())
    config["state"]["checkpoint_interval_s"] = NEVER_S
    pipeline_config.write_text(yaml.safe_dump(config))
    settings = load_settings(pipeline_config, env={})
    kafka = settings.kafka
    ensure_topics(kafka)
    events = traffic(minutes=50, spikes=[(36, 39)])
    split = next(i for i, e in enumerate(events) if e["time_unix_nano"] >= T0 + 35 * 60 * 10**9)
    publish(settings, events[:split])

    port = free_port()
    first = workers("all", "--metrics-port", str(port))
    deadline = time.monotonic() + 120
    while events_handled(port) < split:
        assert time.monotonic() < deadline, first.log_tail()
        time.sleep(0.1)
    time.sleep(3.0)  # several of Faust's commit intervals (1 s): anything committable is committed
    first.kill()
    committed_at_kill = committed_total(kafka.bootstrap, kafka.group_id, kafka.telemetry_topic, PARTITIONS)
    publish(settings, events[split:])

    port = free_port()
    workers("all", "--metrics-port", str(port))
    settle(port, at_least=len(events) - split)

    online = episodes(decode_records(read_all(kafka.bootstrap, kafka.anomalies_topic)))
    expected = episodes(offline_records(settings, [e for e in events if e["service.name"] == "checkout"], 20)
                        + offline_records(settings, [e for e in events if e["service.name"] == "search"], 20))
    assert any(36 <= m - T0 // (60 * 10**9) < 39 for _, m in expected), "a clean run detects the incident"
    lost, extra = unmatched(expected, online), unmatched(online, expected)
    assert not lost and not extra, (f"{committed_at_kill} messages committed at the kill with no checkpoint saved; "
                                    f"lost {lost}, extra {extra}")
