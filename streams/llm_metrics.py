"""The LLM traffic as Prometheus metrics, per series (service, provider, model, environment): what a dashboard plots.

Why in the worker: it already sees every valid, deduplicated event, so these counts agree with what the detectors
judged (duplicates and rejected events are in neither). Label values come from producers, so cardinality is bounded
everywhere it could grow:

- series: at most ``max_series`` label sets; events of further ones are counted in
  ``inferwatch_metric_series_dropped_total{family="llm"}`` instead;
- ``error_type``: the first ``max_error_types`` values seen, then ``_OTHER`` (OpenTelemetry's fallback value);
- ``stage``: the configured ``detectors.stages`` only; ``flag``: the four safety flags of the schema;
- tenants: only the ``top_tenants`` busiest (by calls, decayed) get their own ``tenant`` label; the rest count as
  ``__other__`` (``TopK``);
- every label value is redacted (``alerting.redact``) and cut to ``MAX_LABEL_CHARS``.

>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> m = LlmMetrics(registry, stages=["retrieval"], max_series=1)
>>> call = {"service.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m",
...         "gen_ai.client.operation.duration": 0.8, "error.type": "timeout", "gen_ai.usage.input_tokens": 10,
...         "app.stage.retrieval.duration": 0.1, "app.tenant.id": "acme", "app.cost.usd": 0.002}
>>> m.observe(call); m.observe({**call, "gen_ai.request.model": "other-model"})
>>> labels = {"service": "chat", "provider": "openai", "model": "m", "environment": ""}
>>> registry.get_sample_value("inferwatch_llm_request_duration_seconds_count", labels)
1.0
>>> registry.get_sample_value("inferwatch_llm_errors_total", {**labels, "error_type": "timeout"})
1.0
>>> registry.get_sample_value("inferwatch_llm_tenant_tokens_total", {"tenant": "acme", "type": "input"})
10.0
>>> registry.get_sample_value("inferwatch_metric_series_dropped_total", {"family": "llm"})
1.0
"""
from __future__ import annotations

from collections import Counter as Tally
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram

from inferwatch.alerting.redact import redact
from inferwatch.detectors.bucket import SAFETY_FLAGS

#: metric label -> event field, in label order: the series every LLM metric is broken down by
SERIES_LABELS = {"service": "service.name", "provider": "gen_ai.provider.name", "model": "gen_ai.request.model",
                 "environment": "deployment.environment.name"}
DEFAULT_MAX_SERIES = 500
DEFAULT_TOP_TENANTS = 10
DEFAULT_MAX_ERROR_TYPES = 20
MAX_LABEL_CHARS = 100
OTHER = "__other__"
OTHER_ERROR = "_OTHER"
#: OpenTelemetry's advised buckets for gen_ai.client.operation.duration (seconds)
LATENCY_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)


def label_value(value: object) -> str:
    """An event's value as a label value: redacted, cut short; None (absent) is the empty string."""
    return "" if value is None else redact(str(value))[:MAX_LABEL_CHARS]


class TopK:
    """Which keys are among the ``k`` busiest: counts of at most ``capacity`` keys, halved and cut to the busiest
    half when full (so memory is bounded and old activity fades), the top ``k`` recomputed every ``every`` counts.

    >>> top = TopK(k=1, capacity=4, every=1)
    >>> [top.label(t) for t in ["a", "b", "b", "b", "a"]]
    ['a', '__other__', 'b', 'b', '__other__']
    """

    def __init__(self, k: int, capacity: int | None = None, every: int = 1000) -> None:
        self.k = k
        self.capacity = capacity or max(8 * k, 16)
        self.every = every
        self._counts: Tally = Tally()
        self._top: frozenset = frozenset()
        self._since = 0

    def label(self, key: str) -> str:
        counts = self._counts
        if key not in counts and len(counts) >= self.capacity:
            kept = counts.most_common(self.capacity // 2)
            self._counts = counts = Tally({name: n // 2 + 1 for name, n in kept})
        counts[key] += 1
        self._since += 1
        if self._since >= self.every or (key not in self._top and len(self._top) < self.k):
            self._since = 0
            self._top = frozenset(name for name, _ in counts.most_common(self.k))
        return key if key in self._top else OTHER


class _Series:
    """The children of one label set, resolved once (a ``labels()`` call per event would cost more than the event)."""

    __slots__ = ("duration", "ttfc", "stages", "tokens_in", "tokens_out", "cost", "flags", "errors", "values")

    def __init__(self, m: "LlmMetrics", values: tuple[str, ...]) -> None:
        self.values = values
        self.duration = m.duration.labels(*values)
        self.ttfc = m.ttfc.labels(*values)
        self.stages = [(f"app.stage.{stage}.duration", m.stage.labels(*values, stage)) for stage in m.stages]
        self.tokens_in = m.tokens.labels(*values, "input")
        self.tokens_out = m.tokens.labels(*values, "output")
        self.cost = m.cost.labels(*values)
        self.flags = [(flag, m.guardrail.labels(*values, flag.rsplit(".", 1)[1])) for flag in SAFETY_FLAGS]
        self.errors: dict[str, Counter] = {}


class LlmMetrics:
    """Per-series LLM metrics on ``registry``; ``observe`` takes one validated event."""

    def __init__(self, registry: CollectorRegistry, stages: Iterable[str] = (), *,
                 max_series: int = DEFAULT_MAX_SERIES, top_tenants: int = DEFAULT_TOP_TENANTS,
                 max_error_types: int = DEFAULT_MAX_ERROR_TYPES, dropped: Counter | None = None) -> None:
        labels = list(SERIES_LABELS)
        self.stages = list(stages)
        self.max_series = max_series
        self.max_error_types = max_error_types
        self.duration = Histogram("inferwatch_llm_request_duration_seconds", "End-to-end duration of LLM calls "
                                  "(gen_ai.client.operation.duration); _count is the number of calls", labels,
                                  buckets=LATENCY_BUCKETS, registry=registry)
        self.ttfc = Histogram("inferwatch_llm_time_to_first_chunk_seconds", "Time to the first streamed chunk "
                              "(gen_ai.response.time_to_first_chunk)", labels, buckets=LATENCY_BUCKETS,
                              registry=registry)
        self.stage = Histogram("inferwatch_llm_stage_duration_seconds", "Duration of one pipeline stage of a call "
                               "(app.stage.<stage>.duration, configured stages only)", labels + ["stage"],
                               buckets=LATENCY_BUCKETS, registry=registry)
        self.errors = Counter("inferwatch_llm_errors", "Failed LLM calls by error.type (bounded, then _OTHER)",
                              labels + ["error_type"], registry=registry)
        self.tokens = Counter("inferwatch_llm_tokens", "Tokens used, by type (input, output)", labels + ["type"],
                              registry=registry)
        self.cost = Counter("inferwatch_llm_cost_usd", "Cost of LLM calls in US dollars (app.cost.usd)", labels,
                            registry=registry)
        self.guardrail = Counter("inferwatch_llm_guardrail_flags", "Calls flagged by a guardrail, by flag "
                                 "(prompt_injection, pii_detected, blocked, refusal)", labels + ["flag"],
                                 registry=registry)
        self.tenant_tokens = Counter("inferwatch_llm_tenant_tokens", "Tokens used by the busiest tenants "
                                     "(app.tenant.id; the rest as __other__), by type", ["tenant", "type"],
                                     registry=registry)
        self.tenant_cost = Counter("inferwatch_llm_tenant_cost_usd", "Cost in US dollars of the busiest tenants "
                                   "(the rest as __other__)", ["tenant"], registry=registry)
        self.dropped = dropped if dropped is not None else Counter(
            "inferwatch_metric_series_dropped", "Observations left out because their label set was over the cap",
            ["family"], registry=registry)
        self.tenants = TopK(top_tenants)
        self._series: dict[tuple, _Series] = {}
        self._error_types: set[str] = set()
        self._tenant_children: dict[str, tuple[Counter, Counter, Counter]] = {}

    def observe(self, event: dict) -> None:
        if event.get("event.kind", "llm_call") != "llm_call":
            return
        key = (event.get("service.name"), event.get("gen_ai.provider.name"), event.get("gen_ai.request.model"),
               event.get("deployment.environment.name"))
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= self.max_series:
                self.dropped.labels("llm").inc()
                return
            series = self._series[key] = _Series(self, tuple(map(label_value, key)))
        series.duration.observe(event["gen_ai.client.operation.duration"])
        ttfc = event.get("gen_ai.response.time_to_first_chunk")
        if ttfc is not None:
            series.ttfc.observe(ttfc)
        for field, child in series.stages:
            seconds = event.get(field)
            if seconds is not None:
                child.observe(seconds)
        tokens_in, tokens_out, cost = (event.get("gen_ai.usage.input_tokens"), event.get("gen_ai.usage.output_tokens"),
                                       event.get("app.cost.usd"))
        if tokens_in:
            series.tokens_in.inc(tokens_in)
        if tokens_out:
            series.tokens_out.inc(tokens_out)
        if cost:
            series.cost.inc(cost)
        for field, child in series.flags:
            if event.get(field):
                child.inc()
        error = event.get("error.type")
        if error is not None:
            self._error(series, error).inc()
        tenant = event.get("app.tenant.id")
        if tenant is not None:
            self._tenant(tenant, tokens_in, tokens_out, cost)

    def _error(self, series: _Series, error: object) -> Counter:
        child = series.errors.get(error)
        if child is None:
            value = label_value(error)
            if value not in self._error_types:
                if len(self._error_types) >= self.max_error_types:
                    value = OTHER_ERROR
                else:
                    self._error_types.add(value)
            child = self.errors.labels(*series.values, value)
            if len(series.errors) < self.max_error_types:  # the cache is bounded too
                series.errors[error] = child
        return child

    def _tenant(self, tenant: object, tokens_in: int | None, tokens_out: int | None, cost: float | None) -> None:
        name = self.tenants.label(str(tenant))
        children = self._tenant_children.get(name)
        if children is None:
            if len(self._tenant_children) > 4 * self.tenants.capacity:  # the cache is bounded too
                self._tenant_children.clear()
            value = name if name == OTHER else label_value(name)
            children = self._tenant_children[name] = (self.tenant_tokens.labels(value, "input"),
                                                      self.tenant_tokens.labels(value, "output"),
                                                      self.tenant_cost.labels(value))
        if tokens_in:
            children[0].inc(tokens_in)
        if tokens_out:
            children[1].inc(tokens_out)
        if cost:
            children[2].inc(cost)
