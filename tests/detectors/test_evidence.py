"""Evidence before pages, table-driven over traffic regimes: each rule of docs/detectors.md ("Evidence before pages",
"A new normal is learned once") on a stream made for it, through the whole engine with default settings."""
from __future__ import annotations

import math
import random

import pytest

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.engine import DetectionEngine

NS = 10**9
T0 = 1_767_225_600 * NS
HOUR = 3600.0


def stream(seconds: float, rate, latency=lambda t, rng: rng.lognormvariate(0.0, 0.3), tenant=lambda t, rng: None,
           tokens=lambda t, rng: rng.lognormvariate(6.5, 0.5), seed: int = 1):
    """Poisson calls of one model series at ``rate(t)`` calls/s; per-call fields drawn by the given functions."""
    rng = random.Random(seed)
    t, i = 0.0, 0
    while True:
        r = rate(t)
        t += rng.expovariate(r) if r > 0 else 60.0
        if t >= seconds:
            return
        if r <= 0:
            continue
        i += 1
        event = {"event.id": f"e{i}", "time_unix_nano": T0 + int(t * NS), "service.name": "chat",
                 "gen_ai.provider.name": "openai", "gen_ai.request.model": "m",
                 "gen_ai.client.operation.duration": latency(t, rng),
                 "gen_ai.usage.input_tokens": int(tokens(t, rng))}
        who = tenant(t, rng)
        if who is not None:
            event["app.tenant.id"] = who
        yield event


def episodes(events, **settings) -> list[tuple[str, str, float]]:
    """(signal, series, minute) of every episode that opened."""
    engine = DetectionEngine(DetectorSettings(**settings))
    out = []
    for e in events:
        for r in engine.process(e):
            if r["status"] == "firing" and r["episode_started_unix_nano"] == r["time_unix_nano"]:
                out.append((r["signal"], r["labels"].get("app.tenant.id", "model"),
                            round((r["time_unix_nano"] - T0) / NS / 60, 1)))
    return out


def zipf_tenants(n: int, s: float = 1.1):
    weights = [1 / (k + 1) ** s for k in range(n)]
    total = sum(weights)
    cumulative = list(math.fsum(weights[: k + 1]) / total for k in range(n))

    def pick(t, rng):
        u = rng.random()
        return f"t{next(k for k, c in enumerate(cumulative) if c >= u)}"
    return pick


@pytest.mark.parametrize("name, rate", [("0.05 calls/s", 0.05), ("0.5 calls/s", 0.5), ("5 calls/s", 5.0)])
def test_healthy_traffic_at_any_rate_opens_no_episode(name, rate):
    assert episodes(stream(3 * HOUR, lambda t: rate, tenant=zipf_tenants(50))) == []


def test_a_sparse_tenant_next_call_is_no_surge_from_nothing():
    """A tenant calling every few minutes: its forecast between calls is near 0, its next call is no news."""
    sparse = stream(3 * HOUR, lambda t: 2.0, tenant=lambda t, rng: "rare" if rng.random() < 0.002 else "big")
    assert [e for e in episodes(sparse) if e[0] == "request.rate"] == []


def test_a_batch_job_pages_on_its_first_burst_at_most():
    """Every 20 minutes a tenant sends 3x the series' rate for 2 minutes: the bursts are its normal."""
    def rate(t):
        return 2.0 + (6.0 if t % 1200 < 120 else 0.0)

    def tenant(t, rng):
        return "etl" if t % 1200 < 120 and rng.random() < 0.75 else f"u{rng.randrange(5)}"
    surges = [e for e in episodes(stream(4 * HOUR, rate, tenant=tenant)) if e[0] == "request.rate"]
    assert len(surges) <= 2  # the first burst after warm-up, on the model series and/or the tenant


def test_a_busy_route_wobbling_ten_percent_does_not_page_but_a_thirty_percent_jump_does():
    wobble = stream(2 * HOUR, lambda t: 50.0, latency=lambda t, rng: rng.lognormvariate(0.1 if t > 3600 else 0, 0.3))
    assert [e for e in episodes(wobble) if e[0] == "gen_ai.client.operation.duration"] == []
    jump = stream(2 * HOUR, lambda t: 50.0, latency=lambda t, rng: rng.lognormvariate(0.3 if t > 3600 else 0, 0.3))
    assert [e[:2] for e in episodes(jump) if e[0] == "gen_ai.client.operation.duration"] == [
        ("gen_ai.client.operation.duration", "model")]


def test_a_deploy_that_moves_latency_thirty_percent_pages_once_and_is_learned():
    slower = stream(3 * HOUR, lambda t: 5.0, latency=lambda t, rng: rng.lognormvariate(0.26 if t > HOUR else 0, 0.3))
    latency = [e for e in episodes(slower) if e[0] == "gen_ai.client.operation.duration"]
    assert len(latency) == 1 and 60 <= latency[0][2] < 70


def test_a_tenant_whose_input_tokens_quadruple_pages_on_its_own_series():
    """t5 sends 5 % of the calls: the model series' mean moves 7 %, the tenant's 4x ("who is burning our money")."""
    events = list(stream(2 * HOUR, lambda t: 5.0, tenant=zipf_tenants(20)))
    for e in events:
        if e.get("app.tenant.id") == "t5" and (e["time_unix_nano"] - T0) / NS > HOUR:
            e["gen_ai.usage.input_tokens"] *= 4
    pages = [e for e in episodes(events) if e[0] == "gen_ai.usage.input_tokens"]
    assert [p[:2] for p in pages] == [("gen_ai.usage.input_tokens", "t5")] and pages[0][2] < 75
