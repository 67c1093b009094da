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

Why a collector over plain numbers rather than ``prometheus_client`` counters and histograms: ``observe`` runs once
per event on the worker's hot path, and a dozen locked ``inc``/``observe`` calls per event took about a quarter of the
worker's CPU (``scripts/bench_metrics.py``). Here an event adds to a few floats (a histogram bucket found by
``bisect``), in the same order, so every sum is the same float as before; a scrape builds the families, with the
samples (``_bucket``, ``_count``, ``_sum``, ``_total``, ``_created``) in the order prometheus_client's own metrics
export them (``_created`` always: the ``PROMETHEUS_DISABLE_CREATED_SERIES`` switch, unused here, does not reach a
collector). One lock keeps a scrape (on the HTTP server's thread) from seeing half an event.

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

import threading
import time
from bisect import bisect_left
from collections import Counter as Tally
from itertools import accumulate
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import INF, floatToGoString

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
_BOUNDS = (*LATENCY_BUCKETS, INF)
_LE = tuple(map(floatToGoString, _BOUNDS))
#: where a call's usage is in a series' (and a tenant's) counts; the series' guardrail flags follow
_TOKENS_IN, _TOKENS_OUT, _COST = 0, 1, 2
_FLAGS_AT = 3
#: guardrail flag label -> its event field, in the order of the flag counts
_FLAGS = {field.rsplit(".", 1)[1]: field for field in SAFETY_FLAGS}


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


class _Histogram:
    """Observations of one label set: how many fell in each bucket (first bound ``>=`` the value), and their sum."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0.0] * len(_BOUNDS)
        self.sum = 0.0

    def observe(self, x: float) -> None:
        self.counts[bisect_left(_BOUNDS, x)] += 1
        self.sum += x


class _Counts:
    """Counters of one label set (or of a few that differ only in one label), and when they were created."""

    __slots__ = ("values", "created")

    def __init__(self, n: int) -> None:
        self.values = [0.0] * n
        self.created = time.time()


class _Series:
    """Everything counted for one label set of ``SERIES_LABELS``."""

    __slots__ = ("labels", "duration", "ttfc", "stages", "counts", "errors")

    def __init__(self, labels: tuple[str, ...], stages: int) -> None:
        self.labels = labels
        self.duration = _Histogram()
        self.ttfc = _Histogram()
        self.stages = [_Histogram() for _ in range(stages)]
        self.counts = _Counts(_FLAGS_AT + len(_FLAGS))  # tokens in, tokens out, cost, then one per flag
        self.errors: dict[object, _Counts] = {}  # error.type as sent -> its counter (a cache: label_value redacts)


def _add_usage(values: list[float], tokens_in: int | None, tokens_out: int | None, cost: float | None) -> None:
    if tokens_in:
        values[_TOKENS_IN] += tokens_in
    if tokens_out:
        values[_TOKENS_OUT] += tokens_out
    if cost:
        values[_COST] += cost


def _add_histogram(family: HistogramMetricFamily, names: list[str], labels: list[str], histogram: _Histogram,
                   created: float) -> None:
    family.add_metric(labels, list(zip(_LE, accumulate(histogram.counts))), histogram.sum)
    family.add_sample(family.name + "_created", dict(zip(names, labels)), created)


class LlmMetrics:
    """Per-series LLM metrics, a collector on ``registry``; ``observe`` takes one validated event."""

    def __init__(self, registry: CollectorRegistry, stages: Iterable[str] = (), *,
                 max_series: int = DEFAULT_MAX_SERIES, top_tenants: int = DEFAULT_TOP_TENANTS,
                 max_error_types: int = DEFAULT_MAX_ERROR_TYPES, dropped: Counter | None = None) -> None:
        self.stages = list(stages)
        self.max_series = max_series
        self.max_error_types = max_error_types
        self.tenants = TopK(top_tenants)
        self._stage_fields = [f"app.stage.{stage}.duration" for stage in self.stages]
        self._lock = threading.Lock()
        self._series: dict[tuple, _Series] = {}  # field values as sent -> series (several may share one label set)
        self._by_labels: dict[tuple[str, ...], _Series] = {}  # in creation order, as exported
        self._error_types: set[str] = set()
        self._errors: dict[tuple[str, ...], _Counts] = {}  # series labels + error_type, in creation order
        self._tenant_counts: dict[str, _Counts] = {}  # tenant label, in creation order
        self._tenant_cache: dict[str, _Counts] = {}  # TopK's answer -> its counts (label_value redacts)
        registry.register(self)
        self.dropped = dropped if dropped is not None else Counter(
            "inferwatch_metric_series_dropped", "Observations left out because their label set was over the cap",
            ["family"], registry=registry)

    def observe(self, event: dict) -> None:
        get = event.get
        if get("event.kind", "llm_call") != "llm_call":
            return
        key = (get("service.name"), get("gen_ai.provider.name"), get("gen_ai.request.model"),
               get("deployment.environment.name"))
        with self._lock:
            series = self._series.get(key) or self._add_series(key)
            if series is None:
                self.dropped.labels("llm").inc()
                return
            series.duration.observe(event["gen_ai.client.operation.duration"])
            ttfc = get("gen_ai.response.time_to_first_chunk")
            if ttfc is not None:
                series.ttfc.observe(ttfc)
            for field, histogram in zip(self._stage_fields, series.stages):
                seconds = get(field)
                if seconds is not None:
                    histogram.observe(seconds)
            usage = get("gen_ai.usage.input_tokens"), get("gen_ai.usage.output_tokens"), get("app.cost.usd")
            counts = series.counts.values
            _add_usage(counts, *usage)
            for index, field in enumerate(_FLAGS.values(), _FLAGS_AT):
                if get(field):
                    counts[index] += 1
            error = get("error.type")
            if error is not None:
                self._error(series, error).values[0] += 1
            tenant = get("app.tenant.id")
            if tenant is not None:
                _add_usage(self._tenant(tenant).values, *usage)

    def _add_series(self, key: tuple) -> _Series | None:
        """The series of ``key``, new; None when the cap is reached."""
        if len(self._series) >= self.max_series:
            return None
        labels = tuple(map(label_value, key))
        series = self._by_labels.get(labels)
        if series is None:
            series = self._by_labels[labels] = _Series(labels, len(self.stages))
        self._series[key] = series
        return series

    def _error(self, series: _Series, error: object) -> _Counts:
        counts = series.errors.get(error)
        if counts is None:
            value = label_value(error)
            if value not in self._error_types:
                if len(self._error_types) >= self.max_error_types:
                    value = OTHER_ERROR
                else:
                    self._error_types.add(value)
            labels = (*series.labels, value)
            counts = self._errors.get(labels)
            if counts is None:
                counts = self._errors[labels] = _Counts(1)
            if len(series.errors) < self.max_error_types:  # the cache is bounded too
                series.errors[error] = counts
        return counts

    def _tenant(self, tenant: object) -> _Counts:
        name = self.tenants.label(str(tenant))
        counts = self._tenant_cache.get(name)
        if counts is None:
            if len(self._tenant_cache) > 4 * self.tenants.capacity:  # the cache is bounded too
                self._tenant_cache.clear()
            value = name if name == OTHER else label_value(name)
            counts = self._tenant_counts.get(value)
            if counts is None:
                counts = self._tenant_counts[value] = _Counts(3)
            self._tenant_cache[name] = counts
        return counts

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> list[Metric]:
        duration, ttfc, stage, errors, tokens, cost, guardrail, tenant_tokens, tenant_cost = families = \
            self._families()
        names = list(SERIES_LABELS)
        with self._lock:
            for series in self._by_labels.values():
                labels, counts, created = list(series.labels), series.counts.values, series.counts.created
                _add_histogram(duration, names, labels, series.duration, created)
                _add_histogram(ttfc, names, labels, series.ttfc, created)
                for name, histogram in zip(self.stages, series.stages):
                    _add_histogram(stage, [*names, "stage"], [*labels, name], histogram, created)
                tokens.add_metric([*labels, "input"], counts[_TOKENS_IN], created=created)
                tokens.add_metric([*labels, "output"], counts[_TOKENS_OUT], created=created)
                cost.add_metric(labels, counts[_COST], created=created)
                for index, flag in enumerate(_FLAGS, _FLAGS_AT):
                    guardrail.add_metric([*labels, flag], counts[index], created=created)
            for labels, counted in self._errors.items():
                errors.add_metric(labels, counted.values[0], created=counted.created)
            for tenant, counted in self._tenant_counts.items():
                tenant_tokens.add_metric([tenant, "input"], counted.values[_TOKENS_IN], created=counted.created)
                tenant_tokens.add_metric([tenant, "output"], counted.values[_TOKENS_OUT], created=counted.created)
                tenant_cost.add_metric([tenant], counted.values[_COST], created=counted.created)
        return families

    def _families(self) -> list[Metric]:
        """The families this collector exports, empty, in export order."""
        labels = list(SERIES_LABELS)
        return [
            HistogramMetricFamily("inferwatch_llm_request_duration_seconds", "End-to-end duration of LLM calls "
                                  "(gen_ai.client.operation.duration); _count is the number of calls", labels=labels),
            HistogramMetricFamily("inferwatch_llm_time_to_first_chunk_seconds", "Time to the first streamed chunk "
                                  "(gen_ai.response.time_to_first_chunk)", labels=labels),
            HistogramMetricFamily("inferwatch_llm_stage_duration_seconds", "Duration of one pipeline stage of a call "
                                  "(app.stage.<stage>.duration, configured stages only)", labels=labels + ["stage"]),
            CounterMetricFamily("inferwatch_llm_errors", "Failed LLM calls by error.type (bounded, then _OTHER)",
                                labels=labels + ["error_type"]),
            CounterMetricFamily("inferwatch_llm_tokens", "Tokens used, by type (input, output)",
                                labels=labels + ["type"]),
            CounterMetricFamily("inferwatch_llm_cost_usd", "Cost of LLM calls in US dollars (app.cost.usd)",
                                labels=labels),
            CounterMetricFamily("inferwatch_llm_guardrail_flags", "Calls flagged by a guardrail, by flag "
                                "(prompt_injection, pii_detected, blocked, refusal)", labels=labels + ["flag"]),
            CounterMetricFamily("inferwatch_llm_tenant_tokens", "Tokens used by the busiest tenants "
                                "(app.tenant.id; the rest as __other__), by type", labels=["tenant", "type"]),
            CounterMetricFamily("inferwatch_llm_tenant_cost_usd", "Cost in US dollars of the busiest tenants "
                                "(the rest as __other__)", labels=["tenant"]),
        ]
