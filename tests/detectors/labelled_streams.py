"""Labelled test streams, one per registered detector: what ``test_contract`` replays to check the shared promises.

Test data, so it lives with the tests rather than inside the production classes (STYLE.md 2). Each function gives
``[(x, is_anomalous), ...]`` of the observations its detector takes; a new detector adds its stream here, by the name
``detectors.registry.DETECTORS`` lists it under.
"""
from __future__ import annotations

import math
import random
from typing import Callable

from inferwatch.detectors.embedding_drift import EmbeddingWindow


def adaptive_threshold(seed: int) -> list[tuple[float, bool]]:
    """Noise around a slowly moving level with a few level jumps, for the contract test."""
    rng = random.Random(seed)
    return [(0.001 * i + rng.gauss(0, 0.1) + (0.8 if 300 <= i < 310 else 0.0), 300 <= i < 310) for i in range(400)]


def adwin_drift(seed: int) -> list[tuple[float, bool]]:
    rng = random.Random(seed)
    return [(rng.gauss(6.3 if i >= 300 else 6.0, 0.05), 300 <= i < 360) for i in range(400)]


def category_mix(seed: int) -> list[tuple[dict, bool]]:
    rng = random.Random(seed)
    out = []
    for i in range(400):
        shifted = 300 <= i < 330
        weights = [0.3, 0.15, 0.15, 0.4] if shifted else [0.6, 0.25, 0.15, 0.0]
        counts: dict = {}
        for c in rng.choices(["en", "de", "fr", "pt"], weights=weights, k=100):
            counts[c] = counts.get(c, 0) + 1
        out.append((counts, shifted))
    return out


def concept_drift(seed: int) -> list[tuple[list, bool]]:
    rng = random.Random(seed)
    out = []
    for i in range(300):
        drifted = i >= 250
        rows = []
        for lang in rng.choices(["en", "de", "fr"], k=20):
            mean = {"en": 0.9, "de": 0.8, "fr": 0.85}[lang] - (0.35 if drifted and lang != "en" else 0.0)
            rows.append(("rel", {"app.input.language": lang, "input_tokens": 400}, rng.gauss(mean, 0.03)))
        out.append((rows, 250 <= i < 265))
    return out


def embedding_drift(seed: int) -> list[tuple[EmbeddingWindow, bool]]:
    """Windows of 4 buckets of correlated 24-dimensional embeddings (so the projection runs), shifted a while."""
    rng = random.Random(seed)
    mixing = [[rng.gauss(0.0, 0.5) for _ in range(24)] for _ in range(24)]
    buckets: list[tuple[int, list[float]]] = []
    out = []
    for i in range(400):
        shifted = 300 <= i < 330
        n = rng.randint(20, 50)
        z = [rng.gauss(0.8 if shifted and j < 3 else 0.0, 1.0 / math.sqrt(n)) for j in range(24)]
        buckets = [*buckets[-3:], (n, [sum(m * zj for m, zj in zip(row, z)) for row in mixing])]
        calls = sum(c for c, _ in buckets)
        mean = [sum(c * v[j] for c, v in buckets) / calls for j in range(24)]
        out.append((EmbeddingWindow(calls, mean, n, buckets[-1][1]), shifted))
    return out


def rare_rate(seed: int) -> list[tuple[tuple[float, float], bool]]:
    rng = random.Random(seed)
    out = []
    for i in range(400):
        burst = 300 <= i < 310
        calls = rng.randint(80, 120)
        events = sum(rng.random() < (0.1 if burst else 0.003) for _ in range(calls))
        out.append(((events, calls), burst))
    return out


def seasonal_baseline(seed: int) -> list[tuple[tuple[float, float], bool]]:
    """Hourly values with a daily peak and heavy-tailed noise; the labels mark the first rows of a lasting level
    shift (accepted as the new normal after them) and a short burst."""
    rng = random.Random(seed)
    stream = []
    for i in range(400):
        level = 100.0 + (20.0 if i >= 200 else 0.0) + (20.0 if i % 24 in (11, 12, 13) else 0.0)
        burst = 300 <= i < 303
        anomalous = burst or 200 <= i < 205
        value = level + 2.0 * rng.gauss(0, 1) / math.sqrt(rng.gammavariate(2.5, 0.4)) + (60.0 if burst else 0.0)
        stream.append(((3600.0 * i, value), anomalous))
    return stream


def slo_burn(seed: int) -> list[tuple[tuple[float, float], bool]]:
    rng = random.Random(seed)
    out = []
    for i in range(600):
        bad_p = 0.5 if i >= 400 else 0.002
        calls = rng.randint(80, 120)
        out.append(((sum(rng.random() < bad_p for _ in range(calls)), calls), i >= 420))
    return out


def traffic_rate(seed: int) -> list[tuple[float, bool]]:
    rng = random.Random(seed)
    out = []
    for i in range(400):
        lam = 60.0 * (1 + 0.3 * math.sin(i / 60.0))
        anomalous = 300 <= i < 310 or 350 <= i < 360
        if 300 <= i < 310:
            lam *= 3
        elif 350 <= i < 360:
            lam = 0.0
        out.append((float(sum(rng.random() < lam / 200 for _ in range(200))), anomalous))
    return out


def variant_regression(seed: int) -> list[tuple[dict, bool]]:
    rng = random.Random(seed)
    out = []
    for i in range(300):
        regressed = 250 <= i < 270
        window = {}
        for variant, calls, shift in (("stable", 600, 0.0), ("canary", 60, 0.7 if regressed else 0.0)):
            logs = [rng.gauss(0.3 + shift, 0.3) for _ in range(calls)]
            errors = sum(rng.random() < (0.05 if regressed and variant == "canary" else 0.002) for _ in range(calls))
            window[variant] = [calls, errors, calls, sum(logs), sum(v * v for v in logs)]
        out.append((window, regressed))
    return out


#: registry name -> the stream of that detector
LABELLED_STREAMS: dict[str, Callable[[int], list]] = {
    "adaptive_threshold": adaptive_threshold,
    "adwin_drift": adwin_drift,
    "category_mix": category_mix,
    "concept_drift": concept_drift,
    "embedding_drift": embedding_drift,
    "rare_rate": rare_rate,
    "seasonal_baseline": seasonal_baseline,
    "slo_burn": slo_burn,
    "traffic_rate": traffic_rate,
    "variant_regression": variant_regression,
}
