"""The one place that lists the detectors and the signals they watch. Adding a detector = one module + one line here.

>>> sorted(DETECTORS)[:3]
['adaptive_threshold', 'rare_rate', 'traffic_rate']
>>> [s.name for s in build_signals(DetectorSettings(enabled=["latency", "errors"]))]
['latency', 'errors']
"""
from __future__ import annotations

from detectors.adaptive_threshold import AdaptiveThreshold
from detectors.config import DetectorSettings
from detectors.rare_rate import RareEventRate
from detectors.signals import NumericThreshold, RareRate, Signal, Throughput, safety_signals
from detectors.traffic import TrafficRate

#: every detector class, by the name anomaly records carry in ``detector``
DETECTORS: dict[str, type] = {
    "adaptive_threshold": AdaptiveThreshold,
    "rare_rate": RareEventRate,
    "traffic_rate": TrafficRate,
}


def build_signals(settings: DetectorSettings) -> list[Signal]:
    """The signals every series is watched on, in a fixed order (records of one bucket come out in this order)."""
    signals: list[Signal] = [
        NumericThreshold("latency", "gen_ai.client.operation.duration", 1e-3, "upper", settings),
        NumericThreshold("ttfc", "gen_ai.response.time_to_first_chunk", 1e-3, "upper", settings),
        NumericThreshold("input_tokens", "gen_ai.usage.input_tokens", 1.0, "both", settings),
        NumericThreshold("output_tokens", "gen_ai.usage.output_tokens", 1.0, "both", settings),
        NumericThreshold("cost", "app.cost.usd", 1e-5, "upper", settings),
        RareRate("errors", "error.rate", lambda b: b.errors, lambda b: b.error_ids, settings),
        *safety_signals(settings),
        Throughput(settings),
    ]
    names = [s.name for s in signals]
    unknown = sorted(set(settings.enabled) - set(names))
    if unknown:
        raise ValueError(f"detectors.enabled: unknown signal {unknown[0]!r} (known: {', '.join(names)})")
    return [s for s in signals if not settings.enabled or s.name in settings.enabled]
