"""The one place that lists the detectors and the signals they watch. Adding a detector = one module + one line here.

>>> sorted(DETECTORS)[:3]
['adaptive_threshold', 'adwin_drift', 'category_mix']
>>> [s.name for s in build_signals(DetectorSettings(enabled=["latency", "errors", "stage:retrieval"]))]
['latency', 'stage:retrieval', 'errors']
>>> [(k.fields[-1], [s.name for s in k.signals]) for k in build_key_sets(DetectorSettings(enabled=["latency", "cost"]))]
[('gen_ai.request.model', ['latency', 'cost']), ('app.tenant.id', ['latency', 'cost'])]
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from inferwatch.detectors.adaptive_threshold import AdaptiveThreshold
from inferwatch.detectors.adwin_drift import AdwinDrift
from inferwatch.detectors.bucket import ACCUMULATOR, ACCUMULATORS, Bucket, CallBucket
from inferwatch.detectors.cardinality import CAP_KIND, CAP_SIGNAL
from inferwatch.detectors.category_mix import CategoryMixDrift
from inferwatch.detectors.concept_drift import ConceptDrift
from inferwatch.detectors.config import DetectorSettings, SloSettings
from inferwatch.detectors.embedding_drift import EmbeddingDrift
from inferwatch.detectors.keysets import KeySet
from inferwatch.detectors.rare_rate import RareEventRate
from inferwatch.detectors.seasonal_baseline import SeasonalBaseline
from inferwatch.detectors.signals import (CategoryMix, EmbeddingMean, InputDrift, OutcomeModel, RareRate, Signal, SloBurn,
                               Throughput, Variant, outcome_signals, per_call, safety_signals, stage_signals)
from inferwatch.detectors.slo_burn import BurnRate
from inferwatch.detectors.slo_series import SloBucket
from inferwatch.detectors.traffic import TrafficRate
from inferwatch.detectors.variant_regression import VariantRegression

#: signals that read only call-level sums (``bucket.CallBucket``): the ones extra series (tenants, routes) can watch
CALL_SIGNALS = tuple(dict.fromkeys(s for a in ACCUMULATORS if a.call_level for s in a.signals))
#: every detector class, by the name anomaly records carry in ``detector``
DETECTORS: dict[str, type] = {
    "adaptive_threshold": AdaptiveThreshold,
    "rare_rate": RareEventRate,
    "traffic_rate": TrafficRate,
    "category_mix": CategoryMixDrift,
    "adwin_drift": AdwinDrift,
    "embedding_drift": EmbeddingDrift,
    "concept_drift": ConceptDrift,
    "variant_regression": VariantRegression,
    "slo_burn": BurnRate,
    "seasonal_baseline": SeasonalBaseline,
}


def build_signals(settings: DetectorSettings) -> list[Signal]:
    """The signals every series is watched on, in a fixed order (records of one bucket come out in this order)."""
    signals: list[Signal] = [
        _per_call("latency", "upper", settings),
        _per_call("ttfc", "upper", settings),
        *stage_signals(settings),
        _per_call("input_tokens", "both", settings),
        _per_call("output_tokens", "both", settings),
        _per_call("cost", "upper", settings),
        RareRate("errors", "error.rate", lambda b: b.errors, lambda b: b.error_ids, settings),
        *safety_signals(settings),
        Throughput(settings),
        InputDrift("input_tokens", ACCUMULATOR["input_tokens"].field, settings),
        InputDrift("input_chars", ACCUMULATOR["input_chars"].field, settings),
        *(CategoryMix(i, field, settings) for i, field in enumerate(settings.categorical_fields)),
        EmbeddingMean(settings),
        *outcome_signals(settings),
        OutcomeModel(settings),
        Variant("latency", settings),
        Variant("errors", settings),
    ]
    names = [s.name for s in signals]
    for option in ("enabled", "extra_series_signals"):
        unknown = sorted(set(getattr(settings, option)) - set(names))
        if unknown:
            raise ValueError(f"detectors.{option}: unknown signal {unknown[0]!r} (known: {', '.join(names)})")
    return [s for s in signals if not settings.enabled or s.name in settings.enabled]


def _per_call(name: str, side: str, settings: DetectorSettings) -> Signal:
    """The threshold on the window's geometric mean of a log-summed size: its field and offset are the bucket's."""
    summed = ACCUMULATOR[name]
    return per_call(name, summed.field, summed.offset, side, settings)


def build_key_sets(settings: DetectorSettings) -> list[KeySet]:
    """The primary series key, watched on every enabled signal, then each extra key set on its few signals, which
    read call-level sums only (``CallBucket``: a tenant series costs a fraction of a model series)."""
    signals = build_signals(settings)
    not_call_level = sorted(set(settings.extra_series_signals) - set(CALL_SIGNALS))
    if not_call_level:
        raise ValueError(f"detectors.extra_series_signals: {not_call_level[0]!r} needs more than call-level sums "
                         f"(extra series can watch: {', '.join(CALL_SIGNALS)})")
    s = settings

    def contributors(fields: list[str]) -> list[str]:
        return [f for f in s.contributor_fields if f not in fields]  # a tenant series: by route and variant
    series_key, primary_optional = with_environment(s.series_key, s.environment_field)
    primary = contributors(series_key)

    def full() -> Bucket:
        return Bucket(s.stages, s.categorical_fields, primary, s.negative_feedback_at_most)

    def calls(fields: list[str]) -> Callable[[], CallBucket]:
        own = contributors(fields)
        return lambda: CallBucket(own)
    loose = dataclasses.replace(s, baseline=dataclasses.replace(s.baseline, min_mean_ratio=s.extra_series_min_mean_ratio))
    extra = [signal for signal in build_signals(loose) if signal.name in s.extra_series_signals]
    stricter = dataclasses.replace(s.episode, fire_score=s.extra_series_fire_score)
    key_sets = [KeySet(0, series_key, signals, partial=True, new_bucket=full, episode=s.episode,
                       optional=primary_optional)]
    for i, user_fields in enumerate(s.extra_series_keys, 1):
        fields, optional = with_environment(user_fields, s.environment_field)
        key_sets.append(KeySet(i, fields, extra, partial=False, new_bucket=calls(fields), episode=stricter,
                               calls_only=True, optional=optional))
    return key_sets + [slo_key_set(len(key_sets) + i, slo, s) for i, slo in enumerate(s.slos)]


def with_environment(fields: list[str], environment: str) -> tuple[list[str], set[str]]:
    """``fields`` with the environment field right after ``service.name``, and the set of fields that are optional
    (that one: an event without an environment still joins). Unchanged when the setting is off or the user's key
    already names the field (then it is the user's, as they declared it).

    >>> with_environment(["service.name", "app.tenant.id"], "deployment.environment.name")
    (['service.name', 'deployment.environment.name', 'app.tenant.id'], {'deployment.environment.name'})
    >>> with_environment(["service.name", "env"], "env"), with_environment(["service.name"], "")
    ((['service.name', 'env'], set()), (['service.name'], set()))
    """
    if not environment or environment in fields:
        return list(fields), set()
    at = fields.index("service.name") + 1 if "service.name" in fields else 0
    return [*fields[:at], environment, *fields[at:]], {environment}


def slo_key_set(index: int, slo: SloSettings, settings: DetectorSettings) -> KeySet:
    """One declared SLO as a key set: its selector picks the events, its ``group_by`` (with the environment) makes
    the series."""
    fields, optional = with_environment(slo.group_by, settings.environment_field)
    return KeySet(index, fields, [SloBurn(slo, settings)], partial=False, new_bucket=lambda: SloBucket(slo),
                  episode=settings.episode, selector=slo.selector, tag=slo_tag(slo), optional=optional)


def slo_tag(slo: SloSettings) -> dict:
    """What an SLO's checkpoint keys start with (``{"slo":"<name>",...}``): two SLOs grouped by the same fields must
    not share state, and ``inferwatch slo`` finds an SLO's series by it."""
    return {"slo": slo.name}


def emitted_signals(settings: DetectorSettings) -> list[tuple[str, str]]:
    """Every ``(kind, signal)`` pair an anomaly record can carry under ``settings``, in signal order: what runbooks
    must cover (extra key sets add series, not pairs; each declared SLO adds ``("slo_burn", "slo.<name>")``; the
    engine's series caps add ``("cardinality", "series.cap")`` last, whatever is enabled).

    >>> pairs = emitted_signals(DetectorSettings())
    >>> len(pairs), pairs[0], pairs[2]
    (27, ('threshold', 'gen_ai.client.operation.duration'), ('threshold', 'app.stage.retrieval.duration'))
    >>> pairs[-1]
    ('cardinality', 'series.cap')
    >>> ("data_drift", "app.input.embedding") in pairs
    True
    >>> emitted_signals(DetectorSettings(slos=[SloSettings(name="errors")]))[-2]
    ('slo_burn', 'slo.errors')
    >>> emitted_signals(DetectorSettings(enabled=["errors", "stage:retrieval"], stages=["retrieval"]))
    [('threshold', 'app.stage.retrieval.duration'), ('rate', 'error.rate'), ('cardinality', 'series.cap')]
    """
    signals = [*build_signals(settings), *(SloBurn(slo, settings) for slo in settings.slos)]
    return list(dict.fromkeys([*((s.kind, s.signal) for s in signals), (CAP_KIND, CAP_SIGNAL)]))
