"""A whole run fed secrets: ``inferwatch worker`` (detection and escalation, console/outbox notifier) on the real
broker and Redis, with secrets in the labels, exemplars and malformed messages of its input. Nothing it wrote (its
log, its console output, the outbox file) may contain them."""
from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from inferwatch.streams.topics import ensure_topics
from tests.alerting.secrets_corpus import SECRETS
from tests.streams.test_worker import publish, sends, traffic

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

CORPUS = {name: (text, fragments) for name, text, fragments in SECRETS}
#: the series labels of the incident's service, each carrying secrets (they are part of every anomaly record)
SECRET_LABELS = {
    "gen_ai.request.model": f"gpt-4o {CORPUS['OpenAI key'][0]}",
    "gen_ai.provider.name": f"openai {CORPUS['Authorization: Basic'][0]}",
    "app.tenant.id": CORPUS["e-mail"][0],
}
#: exemplars (trace ids) and malformed messages carry more
SECRET_TRACE = CORPUS["GitHub token"][0]
MALFORMED = [orjson.dumps({"event.id": CORPUS["Stripe live key"][0], "service.name": "checkout"}),
             orjson.dumps({"event.id": CORPUS["JSON password"][0]}),
             f"{{not json {CORPUS['AWS secret key, env style'][0]}".encode()]
FED = ["OpenAI key", "Authorization: Basic", "e-mail", "GitHub token", "Stripe live key", "JSON password",
       "AWS secret key, env style"]


def test_a_worker_fed_secrets_writes_none_of_them_anywhere(settings, workers):
    ensure_topics(settings.kafka)
    events = traffic(minutes=40, spikes=[(30, 34)])
    for i, event in enumerate(events):
        if event["service.name"] == "checkout":
            event.update(SECRET_LABELS, trace_id=f"{i} {SECRET_TRACE}")
    publish(settings, events[: len(events) // 2])
    raw = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    for value in MALFORMED:
        raw.produce(settings.kafka.telemetry_topic, value=value, key=b"checkout")
    raw.flush()
    publish(settings, events[len(events) // 2:])

    worker = workers("all")
    outbox = Path(settings.alerting.outbox_path)
    deadline = time.monotonic() + 180
    while not any(line["labels"].get("service.name") == "checkout" for line in sends(outbox)):
        assert time.monotonic() < deadline, f"the incident was never paged:\n{worker.log_tail()}"
        time.sleep(0.5)
    worker.stop()

    written = {"worker log (stdout: console notifier; stderr: logs)": worker.log.read_text(errors="replace"),
               "outbox file": outbox.read_text()}
    assert "[inferwatch alert]" in written["worker log (stdout: console notifier; stderr: logs)"]
    leaks = [(name, fragment, where) for name in FED for fragment in CORPUS[name][1]
             for where, text in written.items() if fragment in text]
    assert not leaks, f"secrets written out: {leaks}"
