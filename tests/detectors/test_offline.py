"""The offline tools built on the detectors: the simulator, ``replay``, ``score`` and the benchmark scorer.

(They live in ``streams/`` as CLI commands; their tests sit here with the detectors they exercise.)"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random

import pytest

from inferwatch.detectors.engine import DetectionEngine
from inferwatch.detectors.evaluation import evaluate
from inferwatch.detectors.incidents import INCIDENT_KINDS, Incident, parse_incident, read_manifest
from inferwatch.streams import replay, score, simulate
from inferwatch.streams.config import Settings
from inferwatch.streams.schema import validate_event
from inferwatch.streams.simulate import START_NS, generate

NS = 10**9


def parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers())
    return parser.parse_args(argv)


def test_simulator_is_seeded_sorted_and_valid_for_the_schema():
    a = list(generate(4, START_NS, 120, 10, []))
    assert a == list(generate(4, START_NS, 120, 10, []))
    assert a != list(generate(5, START_NS, 120, 10, []))
    assert [e["time_unix_nano"] for e in a] == sorted(e["time_unix_nano"] for e in a)
    for event in a:
        assert validate_event(event)["event.id"] == event["event.id"]
    calls = [e for e in a if e["event.kind"] == "llm_call"]
    assert len({(e["service.name"], e["gen_ai.request.model"]) for e in calls}) == 6
    assert len({e["app.tenant.id"] for e in calls}) > 5 and {"stable", "canary"} <= {e["app.variant"] for e in calls}


@pytest.mark.parametrize("kind", sorted(INCIDENT_KINDS))
def test_every_incident_kind_changes_only_matching_events(kind):
    labels = {"service.name": "support-bot", "gen_ai.request.model": "gpt-4o"}
    incident = Incident(kind, 60, 120, labels)
    clean = list(generate(9, START_NS, 180, 20, []))
    hit = list(generate(9, START_NS, 180, 20, [incident]))
    assert clean != hit

    def window(events, matching):
        return [e for e in events if 60 * NS <= e["time_unix_nano"] - START_NS < 180 * NS
                and incident.matches(e) is matching]
    before = [e for e in hit if e["time_unix_nano"] - START_NS < 60 * NS]
    assert before == [e for e in clean if e["time_unix_nano"] - START_NS < 60 * NS]
    assert window(hit, True) != window(clean, True)


def test_simulate_cli_writes_events_and_manifest(tmp_path, capsys):
    out, manifest = tmp_path / "ev.jsonl", tmp_path / "m.json"
    args = parse(simulate, ["simulate", "--duration", "10m", "--rate", "5", "--out", str(out), "--manifest",
                            str(manifest), "--incident", "error_burst@5m+2m:service.name=support-bot"])
    assert args.run(args, Settings()) == 0
    lines = out.read_text().splitlines()
    assert len(lines) > 2000 and START_NS <= json.loads(lines[0])["time_unix_nano"] < START_NS + NS
    doc = read_manifest(manifest)
    assert doc["incidents"][0]["kind"] == "error_burst"
    assert doc["incidents"][0]["start_unix_nano"] == START_NS + 300 * NS


def test_incident_spec_errors_name_the_problem():
    with pytest.raises(ValueError, match="invalid duration .soon.: expected <number><unit>"):
        parse_incident("latency_spike@soon+5m")
    with pytest.raises(ValueError, match="KIND@START"):
        parse_incident("latency_spike")


def test_replay_gives_what_the_engine_gives_and_reports_rejects(tmp_path, capsys):
    incident = parse_incident("error_burst@20m+4m:service.name=search-summarizer,gen_ai.request.model=gpt-4o-mini")
    events = list(generate(2, START_NS, 1800, 10, [incident]))
    path = tmp_path / "ev.jsonl"
    with path.open("w") as f:
        for i, event in enumerate(events):
            f.write(json.dumps(event) + "\n")
            if i == 100:
                f.write("{not json\n")
    settings = Settings()
    out = io.BytesIO()
    counts, n, rejected = replay.replay(path.open("rb"), settings, out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    engine = DetectionEngine(settings.detectors)
    direct = [r for e in events for r in engine.process(e)]
    assert n == len(events) and rejected == 1
    assert [r["fingerprint"] for r in records] == [r["fingerprint"] for r in direct]
    assert any(r["signal"] == "error.rate" and r["status"] == "firing" for r in records)


def test_score_cli_is_causal_and_unit_free(tmp_path, capsys):
    rng = random.Random(1)
    values = [100 + rng.gauss(0, 3) for _ in range(200)] + [160.0] + [100.0] * 5
    path = tmp_path / "s.csv"
    path.write_text("ts,v\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    args = parse(score, ["score", str(path), "--value-column", "v", "--timestamp-column", "ts"])
    assert args.run(args, Settings()) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    scores = [float(r["anomaly_score"]) for r in rows]
    assert len(rows) == len(values) and rows[0]["v"] == str(values[0])
    assert scores[200] >= 4 and max(scores[40:200]) < 4  # surprise: 4 = a 1-in-10,000 row (docs/score.md)
    # causal: the score of a row does not depend on the rows after it
    assert round(list(score.scores(values[:201]))[200], 3) == scores[200]
    # unit-free: the same series in other units scores the same
    scaled = list(score.scores([v * 1000 for v in values]))
    assert all(math.isclose(a, b, abs_tol=1e-3) for a, b in zip(scaled, scores))


def test_evaluate_counts_misses_side_effects_and_false_alarms():
    incidents = [Incident("latency_spike", 600, 300, {"service.name": "a"}),
                 Incident("error_burst", 1800, 300, {"service.name": "b"})]

    def record(t_s, signal, service, fp):
        return {"time_unix_nano": t_s * NS, "signal": signal, "labels": {"service.name": service},
                "status": "firing", "fingerprint": fp, "episode_started_unix_nano": t_s * NS}
    records = [record(630, "gen_ai.client.operation.duration", "a", "1"),
               record(640, "request.rate", "a", "2"),  # side effect of the spike
               record(1000, "error.rate", "c", "3"),  # false alarm
               record(1830, "error.rate", "a", "4")]  # right signal, wrong series: false alarm, not a detection
    report = evaluate(records, incidents, duration_s=7200, start_ns=0)
    assert (report.injected, report.detected) == (2, 1)
    assert report.false_alarm_episodes == 2 and report.side_effect_episodes == 1
    assert report.false_alarm_episodes_per_hour == 1.0
    assert "injected=2 detected=1" in report.table().splitlines()[-1]


def test_simulated_embeddings_are_small_unit_vectors_that_depend_on_topic_and_language():
    calls = [e for e in generate(12, START_NS, 300, 10, []) if e["event.kind"] == "llm_call"]
    assert {len(e["app.input.embedding"]) for e in calls} == {simulate.EMBEDDING_DIMS}
    assert all(abs(math.hypot(*e["app.input.embedding"]) - 1.0) < 1e-3 for e in calls)

    def mean(group):
        vectors = [e["app.input.embedding"] for e in calls if group(e)]
        return [sum(column) / len(vectors) for column in zip(*vectors)]

    def distance(a, b):
        return math.dist(mean(a), mean(b))
    billing, news = (lambda e: e["app.input.topic"] == "billing"), (lambda e: e["app.input.topic"] == "news")
    english = lambda e: e["app.input.topic"] == "billing" and e["app.input.language"] == "en"  # noqa: E731
    spanish = lambda e: e["app.input.topic"] == "billing" and e["app.input.language"] == "es"  # noqa: E731
    assert distance(billing, news) > distance(english, spanish) > 0.05


def test_a_detection_must_name_the_incident_labels():
    """A tenant's surge is detected by a record about that tenant (its labels or its top contributors), not by any
    series that happened to fire during it."""
    incident = Incident("traffic_surge", 600, 300, {"app.tenant.id": "t7"})

    def record(labels, fp, contributors=None):
        return {"time_unix_nano": 660 * NS, "signal": "request.rate", "labels": labels, "status": "firing",
                "fingerprint": fp, "episode_started_unix_nano": 660 * NS, "contributors": contributors or {}}
    model = record({"service.name": "a", "gen_ai.request.model": "m"}, "1")
    assert evaluate([model], [incident], 3600, start_ns=0).detected == 0
    named = record(model["labels"], "2", {"app.tenant.id": [{"value": "t7", "window": 90, "expected": 12.0}]})
    tenant = record({"service.name": "a", "app.tenant.id": "t7"}, "3")
    other = record({"service.name": "a", "app.tenant.id": "t8"}, "4")
    for detecting in (named, tenant):
        assert evaluate([detecting], [incident], 3600, start_ns=0).detected == 1
    report = evaluate([other], [incident], 3600, start_ns=0)
    assert (report.detected, report.false_alarm_episodes) == (0, 1)
