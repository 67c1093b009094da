"""Declared SLOs: nothing pages unless the user declared it; selectors, grouping, indicators, evidence, budgets."""
from __future__ import annotations

import random

import pytest

from inferwatch.detectors.config import DetectorSettings, SloSettings
from inferwatch.detectors.engine import DetectionEngine
from inferwatch.detectors.state import InMemoryStateStore
from inferwatch.streams.config import ConfigError, settings_from_mapping

NS = 10**9
T0 = 1_767_225_600 * NS


def calls(seconds: float, rate: float, seed: int = 1, bad_from: float | None = None, service: str = "chat",
          models=("m1", "m2"), slow_share: float = 0.0, error_share: float = 0.0, **extra):
    """Calls of ``service`` spread over ``models``; from ``bad_from`` (seconds) on, ``slow_share`` take 30 s and
    ``error_share`` fail. Healthy calls take 1-3 s."""
    rng = random.Random(seed)
    for i in range(int(seconds * rate)):
        t = i / rate
        bad = bad_from is not None and t >= bad_from
        slow = bad and rng.random() < slow_share
        error = "timeout" if bad and rng.random() < error_share else None
        yield {"event.id": f"{service}-{i}", "time_unix_nano": T0 + int(t * NS), "service.name": service,
               "gen_ai.provider.name": "openai", "gen_ai.request.model": models[i % len(models)],
               "gen_ai.client.operation.duration": 30.0 if slow else rng.uniform(1.0, 3.0), "error.type": error,
               **extra}


def firing(engine: DetectionEngine, events) -> list[dict]:
    return [r for e in events for r in engine.process(e) if r["status"] == "firing" and r["kind"] == "slo_burn"]


def latency_slo(**kw) -> SloSettings:
    return SloSettings(**{"name": "chat-8s", "indicator": "latency", "threshold": 8.0, "objective": 0.99,
                          "selector": {"service.name": "chat"}, **kw})


def test_no_slo_is_built_in_so_a_long_generation_route_pages_nothing():
    """A route where a fifth of healthy calls take 30 s broke a built-in 10 s objective nobody declared."""
    engine = DetectionEngine(DetectorSettings(enabled=["latency"]))
    assert firing(engine, calls(3600, 5, bad_from=0, slow_share=0.2)) == []


def test_a_declared_latency_slo_pages_once_for_the_whole_service_when_calls_get_slow():
    engine = DetectionEngine(DetectorSettings(enabled=["latency"], slos=[latency_slo()]))
    records = firing(engine, calls(5400, 5, bad_from=3600, slow_share=0.5))
    # both models are one SLO series: one alert (one fingerprint), announced again only when it turns critical
    assert {(r["signal"], tuple(r["labels"].items()), r["fingerprint"]) for r in records} == {
        ("slo.chat-8s", (("service.name", "chat"),), records[0]["fingerprint"])}
    assert [r["severity"] for r in records][-1] == "critical" and len(records) <= 3
    assert 3600 < (records[0]["time_unix_nano"] - T0) / NS < 3600 + 600
    assert records[-1]["value"] > 14.4 and records[-1]["error_budget_left"] < 1.0


def test_the_selector_keeps_other_services_and_environments_out():
    slo = latency_slo(selector={"service.name": "chat", "deployment.environment.name": "prod"})
    engine = DetectionEngine(DetectorSettings(enabled=["latency"], slos=[slo]))
    staging = calls(5400, 5, bad_from=3600, slow_share=0.5, **{"deployment.environment.name": "staging"})
    other = calls(5400, 5, bad_from=3600, slow_share=0.5, service="search")
    assert firing(engine, staging) == [] and firing(DetectionEngine(DetectorSettings(slos=[slo])), other) == []


def test_group_by_makes_one_series_per_value_and_two_slos_keep_their_own_state():
    by_model = latency_slo(name="per-model", group_by=["service.name", "gen_ai.request.model"])
    errors = SloSettings(name="chat-errors", indicator="errors", objective=0.999, selector={"service.name": "chat"})
    store = InMemoryStateStore()
    engine = DetectionEngine(DetectorSettings(enabled=["latency"], slos=[by_model, errors]), store)
    records = firing(engine, calls(5400, 5, bad_from=3600, slow_share=0.5, models=("m1", "m1", "m2")))
    engine.checkpoint()
    assert {(r["signal"], r["labels"].get("gen_ai.request.model")) for r in records} == {
        ("slo.per-model", "m1"), ("slo.per-model", "m2")}  # slow calls are not errors: chat-errors is quiet
    assert sorted(k for k in store.items if k.startswith('{"slo"')) == [
        '{"slo":"chat-errors","service.name":"chat"}',
        '{"slo":"per-model","service.name":"chat","gen_ai.request.model":"m1"}',
        '{"slo":"per-model","service.name":"chat","gen_ai.request.model":"m2"}']


def test_a_thin_series_needs_enough_calls_before_a_window_can_burn():
    """At 0.02 calls/s two failures of three calls are 67 % bad, but three calls cannot show a burn rate."""
    slo = SloSettings(name="errors", indicator="errors", objective=0.99)
    engine = DetectionEngine(DetectorSettings(enabled=["errors"], slos=[slo]))
    assert firing(engine, calls(3 * 3600, 0.02, bad_from=3 * 3600 - 150, error_share=1.0)) == []


def test_an_evaluation_slo_counts_only_evaluation_scores():
    slo = SloSettings(name="quality", indicator="evaluation", threshold=0.7, objective=0.95)
    engine = DetectionEngine(DetectorSettings(enabled=["errors"], slos=[slo]))
    rng = random.Random(3)
    events = [{"event.id": f"v{i}", "time_unix_nano": T0 + i * NS, "event.kind": "evaluation",
               "service.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m",
               "gen_ai.evaluation.name": "faithfulness",
               "gen_ai.evaluation.score.value": rng.uniform(0.0, 0.6) if i >= 3600 else rng.uniform(0.75, 1.0)}
              for i in range(5400)]
    records = firing(engine, events)
    assert [r["signal"] for r in records] == ["slo.quality"] and records[0]["indicator"] == "evaluation"


@pytest.mark.parametrize("slo, message", [
    ({"name": "x", "indicator": "latncy"}, "indicator: must be one of latency, errors, ttfc, evaluation"),
    ({"name": "x", "indicator": "latency"}, "threshold: a latency SLO needs a threshold in seconds > 0"),
    ({"name": "x", "group_by": ["app.tenant.id"]}, "group_by: must include service.name"),
    ({"name": "x", "objective": 1.5}, "objective"),
])
def test_a_bad_slo_declaration_names_the_key(slo, message):
    with pytest.raises(ConfigError) as raised:
        settings_from_mapping({"detectors": {"slos": [slo]}})
    assert message in str(raised.value)


def test_the_demo_declares_objectives_its_healthy_traffic_keeps():
    """``make demo`` runs with scripts/demo.yaml: its SLOs must not page on the simulator's healthy hours."""
    from pathlib import Path

    from inferwatch.streams.config import load_settings
    from inferwatch.streams.simulate import START_NS, generate

    settings = load_settings(Path(__file__).parents[2] / "scripts" / "demo.yaml", env={})
    assert [s.name for s in settings.detectors.slos] == ["availability", "support-bot-latency",
                                                         "support-bot-first-chunk"]
    engine = DetectionEngine(settings.detectors)
    assert firing(engine, generate(7, START_NS, 3600, 10, [])) == []


def test_the_slo_guide_example_is_a_valid_configuration():
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).parents[2] / "docs" / "slo.md").read_text()
    [example] = re.findall(r"```yaml\n(.*?)```", text, re.S)
    slos = settings_from_mapping(yaml.safe_load(example)).detectors.slos
    assert [(s.name, s.indicator, s.group_by) for s in slos] == [
        ("chat-latency", "latency", ["service.name"]),
        ("answers-quality", "evaluation", ["service.name", "app.tenant.id"])]
