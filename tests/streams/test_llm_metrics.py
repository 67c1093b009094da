"""The LLM metrics export exactly what one counter increment or histogram observation per event would export.

Two checks on the same seeded, mixed stream (several series, unconfigured stages, missing and zero fields, more error
types and tenants than the bounds, series over the cap, events that are not calls):

- the whole exposition (names, help, types, label sets, order, values) equals the one recorded from the per-event
  implementation (``llm_metrics_before.prom``; only the ``_created`` timestamps are masked);
- every value equals one computed here from the events by hand (sums in event order, ``x <= le`` bucket counts).
"""
from __future__ import annotations

import random
import re
from collections import defaultdict
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from inferwatch.alerting.redact import redact
from inferwatch.streams.llm_metrics import LATENCY_BUCKETS, MAX_LABEL_CHARS, LlmMetrics

BEFORE = Path(__file__).with_name("llm_metrics_before.prom")
STAGES = ["retrieval", "generation"]
ERROR_TYPES = ["timeout", "rate_limit", "500", "content_filter", "bad_request", "sk-abcdefghijklmnopqrstuv"]
LONG_MODEL = "m" * (MAX_LABEL_CHARS + 20)
#: durations on bucket edges, between them and past the last one (+Inf)
DURATIONS = [0.0, 0.01, 0.0100001, 0.08, 0.5, 1.28, 3.0, 81.92, 100.0]


def stream(n: int = 1500, seed: int = 12) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        if rng.random() < 0.05:
            events.append({"event.kind": "evaluation", "service.name": "chat", "gen_ai.provider.name": "openai",
                           "gen_ai.request.model": "m1", "gen_ai.client.operation.duration": 1.0})
            continue
        event = {"service.name": rng.choice(["chat", "search", "code", "bob@example.com", "eve@example.org"]),
                 "gen_ai.provider.name": rng.choice(["openai", "anthropic"]),
                 "gen_ai.request.model": rng.choice(["m1", "m2", LONG_MODEL]),
                 "gen_ai.client.operation.duration": rng.choice(DURATIONS) if i % 3 else rng.expovariate(1.5)}
        if rng.random() < 0.3:
            event["deployment.environment.name"] = rng.choice(["prod", "staging", ""])
        if i % 4:
            event["event.kind"] = "llm_call"
        if rng.random() < 0.6:
            event["gen_ai.response.time_to_first_chunk"] = rng.expovariate(4.0)
        for stage in ["retrieval", "generation", "rerank"]:
            if rng.random() < 0.5:
                event[f"app.stage.{stage}.duration"] = rng.choice([rng.expovariate(8.0), 0.04, 0.0])
        for field in ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"]:
            if rng.random() < 0.8:
                event[field] = rng.choice([0, rng.randrange(1, 4000)])
        if rng.random() < 0.7:
            event["app.cost.usd"] = rng.choice([0.0, rng.random() / 300])
        for flag in ["prompt_injection", "pii_detected", "blocked", "refusal"]:
            if rng.random() < 0.1:
                event[f"app.safety.{flag}"] = rng.random() < 0.7
        if rng.random() < 0.15:
            event["error.type"] = rng.choice(ERROR_TYPES)
        if rng.random() < 0.8:
            event["app.tenant.id"] = rng.choice(["acme", "globex", "initech", "umbrella", "hooli"])
        events.append(event)
    return events


def exposition(events: list[dict], **bounds) -> str:
    registry = CollectorRegistry()
    metrics = LlmMetrics(registry, STAGES, **bounds)
    for event in events:
        metrics.observe(event)
    return generate_latest(registry).decode()


def masked(text: str) -> str:
    return re.sub(r"(?m)^(\S+_created(?:\{.*\})?) \S+$", r"\1 <created>", text)


BOUNDED = {"max_series": 20, "max_error_types": 4, "top_tenants": 2}


def test_the_exposition_is_the_one_the_per_event_implementation_gave():
    assert masked(exposition(stream(), **BOUNDED)) == BEFORE.read_text()


def scraped(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if not s.name.endswith("_created")}


def by_hand(events: list[dict], max_series: int, max_error_types: int) -> dict[tuple, float]:
    """What one increment per event gives, from the events alone (tenants unbounded: every tenant its own label)."""
    def value(v: object) -> str:
        return "" if v is None else redact(str(v))[:MAX_LABEL_CHARS]

    series: dict[tuple, str] = {}
    error_types: list[str] = []
    out: dict[tuple, float] = defaultdict(float)
    histograms = {"duration": "inferwatch_llm_request_duration_seconds",
                  "ttfc": "inferwatch_llm_time_to_first_chunk_seconds",
                  "stage": "inferwatch_llm_stage_duration_seconds"}

    def count(name: str, labels: dict, amount: float = 1.0) -> None:
        out[(name, tuple(sorted(labels.items())))] += amount

    def observe(kind: str, labels: dict, x: float | None) -> None:
        name = histograms[kind]
        count(name + "_count", labels, 0.0 if x is None else 1.0)
        count(name + "_sum", labels, 0.0 if x is None else x)
        for le in [*LATENCY_BUCKETS, float("inf")]:
            count(name + "_bucket", {**labels, "le": str(le) if le != float("inf") else "+Inf"},
                  1.0 if x is not None and x <= le else 0.0)

    for event in events:
        if event.get("event.kind", "llm_call") != "llm_call":
            continue
        raw = tuple(event.get(f) for f in ["service.name", "gen_ai.provider.name", "gen_ai.request.model",
                                           "deployment.environment.name"])
        if raw not in series and len(series) >= max_series:
            count("inferwatch_metric_series_dropped_total", {"family": "llm"})
            continue
        series.setdefault(raw, "")
        labels = dict(zip(["service", "provider", "model", "environment"], map(value, raw)))
        observe("duration", labels, event["gen_ai.client.operation.duration"])
        observe("ttfc", labels, event.get("gen_ai.response.time_to_first_chunk"))
        for stage in STAGES:
            observe("stage", {**labels, "stage": stage}, event.get(f"app.stage.{stage}.duration"))
        tokens = {"input": event.get("gen_ai.usage.input_tokens") or 0,
                  "output": event.get("gen_ai.usage.output_tokens") or 0}
        cost = event.get("app.cost.usd") or 0.0
        for kind, n in tokens.items():
            count("inferwatch_llm_tokens_total", {**labels, "type": kind}, n)
        count("inferwatch_llm_cost_usd_total", labels, cost)
        for flag in ["prompt_injection", "pii_detected", "blocked", "refusal"]:
            count("inferwatch_llm_guardrail_flags_total", {**labels, "flag": flag},
                  1.0 if event.get(f"app.safety.{flag}") else 0.0)
        if event.get("error.type") is not None:
            error = value(event["error.type"])
            if error not in error_types and len(error_types) < max_error_types:
                error_types.append(error)
            count("inferwatch_llm_errors_total", {**labels, "error_type": error if error in error_types else "_OTHER"})
        if event.get("app.tenant.id") is not None:
            tenant = value(event["app.tenant.id"])
            for kind, n in tokens.items():
                count("inferwatch_llm_tenant_tokens_total", {"tenant": tenant, "type": kind}, n)
            count("inferwatch_llm_tenant_cost_usd_total", {"tenant": tenant}, cost)
    return dict(out)


def test_every_exported_value_is_what_one_increment_per_event_gives():
    events = stream()
    bounds = {"max_series": 20, "max_error_types": 4, "top_tenants": 5}
    assert scraped(exposition(events, **bounds)) == by_hand(events, bounds["max_series"], bounds["max_error_types"])
