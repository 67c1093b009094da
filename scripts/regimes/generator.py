"""An independent generator of LLM-call telemetry for the regime matrix (shares nothing with streams/simulate.py).

Assumptions (written down in docs/benchmarks.md, "Traffic-regime matrix"), chosen to differ from our simulator's:

* Arrivals are a Poisson process per service at the cell's per-series rate, times the regime's rhythm; tenants are
  drawn Zipf(s=1.1) per service (40 of them, or 1,000), not from a short fixed list.
* Latency has one of four shapes: lognormal (sigma 0.45), heavy-tailed (a lognormal body with 8 % of calls from a
  Pareto tail, alpha 1.4, capped at the timeout), bimodal (semantic-cache hit 55 %: ~0.12 s, miss: ~2.4 s) or
  long-generation (median 15 s, lognormal sigma 0.55, thousands of output tokens). Output tokens do not track latency.
* 0.8 % of calls fail (timeouts at the timeout, rate limits fast); streaming routes carry time to first chunk;
  each call has a retrieval and an inference stage; 8 % of successful calls get an evaluation event 2-30 s later.
* Delivery is at-least-once and out of order: every event reaches the collector after a small random delay; in the
  ``delivery`` regime 5 % of events are sent 2-3 times with the same ``event.id``, each producer (4 per service)
  has its clock off by up to +/-2 minutes, and 3 % of events arrive up to 5 minutes late.
* Incidents (``truth.KINDS``) and deploys change the events whose labels they hit; the clean run of a cell is the
  same traffic without incidents (deploys are normal operations and stay in both).

``generate`` yields events in the order the collector receives them (not sorted by ``time_unix_nano``);
``deliveries`` yields them with the collector's clock at arrival (the wall clock an alerting engine would run on).

>>> from scripts.regimes.cells import Cell
>>> run = plan(Cell("t", 2.0, duration_s=1800.0), seed=1, incidents=True)
>>> events = list(generate(run))
>>> 10_000 < len(events) < 13_000, sorted({e.get("event.kind", "llm_call") for e in events})
(True, ['evaluation', 'llm_call'])
>>> [(i.kind, i.start_s, i.duration_s, i.labels["service.name"]) for i in run.incidents]
[('traffic_stall', 1200.0, 300.0, 'assistant-api')]
"""
from __future__ import annotations

import heapq
import math
import random
from bisect import bisect
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Iterator, NamedTuple

from scripts.regimes.cells import DAY_S, WEEK_DAY_S, Cell
from scripts.regimes.truth import KINDS, Deploy, Incident, schedule
from inferwatch.streams.schema import REQUIRED

NS = 1_000_000_000
#: 2026-06-01T00:00:00Z: not the simulator's start, and in the past (the pipeline rejects events from the future)
START_NS = 1_780_272_000 * NS
ZIPF_S = 1.1
BASE_ERROR_P = 0.008
INJECTION_P = 0.002
EVALUATION_P = 0.08
#: producers (pods) per service; each has its own clock in the ``delivery`` regime
PRODUCERS = 4
MAX_SKEW_S = 120.0
DUPLICATE_P = 0.05
LATE_P = 0.03
MAX_LATE_S = 300.0
BATCH_EVERY_S = 1200.0
BATCH_LENGTH_S = 120.0
BATCH_TENANT = "tenant-batch-etl"
#: once the contract makes ``error.type`` optional, half the producers (older SDKs) leave it out on success
OMIT_ERROR_TYPE = "error.type" not in REQUIRED["llm_call"]


@dataclass(frozen=True)
class Service:
    """One series: a service calling one model (different names, providers and prices from the simulator's)."""

    name: str
    provider: str
    model: str
    #: latency scale relative to the shape's median
    speed: float
    usd_per_1k_in: float
    usd_per_1k_out: float
    out_tokens: float


SERVICES = (
    Service("assistant-api", "azure.ai.openai", "gpt-4.1", 1.0, 0.002, 0.008, 320),
    Service("doc-qa", "mistral_ai", "mistral-medium-3", 0.7, 0.0004, 0.002, 180),
    Service("agent-runner", "cohere", "command-r-plus", 1.4, 0.0025, 0.01, 450),
)
ROUTES = (("/chat", True, 0.7), ("/summarize", False, 0.3))


@dataclass
class Run:
    """One generated stream: a cell, a seed, whether incidents are injected, and what was injected."""

    cell: Cell
    seed: int
    with_incidents: bool
    services: tuple[Service, ...]
    incidents: list[Incident] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)
    start_ns: int = START_NS

    @property
    def duration_s(self) -> float:
        return self.cell.timing.duration_s

    def manifest(self) -> dict:
        return {"cell": self.cell.name, "seed": self.seed, "with_incidents": self.with_incidents,
                "start_unix_nano": self.start_ns, "duration_s": self.duration_s,
                "services": [s.name for s in self.services],
                "incidents": [i.to_dict() for i in self.incidents], "deploys": [d.to_dict() for d in self.deploys]}


def series_labels(service: Service) -> dict:
    return {"service.name": service.name, "gen_ai.request.model": service.model}


def tenant_names(count: int) -> list[str]:
    return [f"org-{i:04d}" for i in range(1, count + 1)]


def plan(cell: Cell, seed: int, incidents: bool) -> Run:
    """What a run will contain: its services, incidents (rotated by seed so seeds cover every kind) and deploys."""
    t = cell.timing
    services = SERVICES[:t.series]
    run = Run(cell, seed, incidents, services)
    tenants = tenant_names(cell.tenants)
    if incidents:
        kinds = list(KINDS)
        shift = 2 * seed % len(kinds)  # a cell with room for 2 incidents still sees 6 kinds over 3 seeds
        kinds = kinds[shift:] + kinds[:shift]
        for lane, start, kind in schedule(kinds, len(services), t.warmup_s, t.span_s, t.gap_s, t.duration_s):
            service = services[lane]
            labels = series_labels(service)
            if KINDS[kind].scope == "tenant":
                # a mid-sized tenant for a surge (its own series must notice), a big one for a cost jump
                labels = {"service.name": service.name, "app.tenant.id": tenants[1 if kind == "traffic_surge" else 0]}
            run.incidents.append(Incident(kind, start, t.span_s, labels))
    if cell.regime == "deploys":
        run.deploys.append(Deploy("model_version", round(0.45 * t.duration_s), series_labels(services[0])))
        if len(services) > 1:
            run.deploys.append(Deploy("prompt_change", round(0.6 * t.duration_s), series_labels(services[1])))
    return run


def rhythm(regime: str, t_s: float) -> float:
    """Traffic multiplier: a compressed day (2 h, peak mid-"afternoon"), or a compressed week (20-minute days, the
    last two of every seven at a third of the traffic)."""
    if regime == "daily":
        return 1.0 + 0.7 * math.sin(2 * math.pi * (t_s / DAY_S - 0.25))
    if regime == "weekly":
        day = int(t_s // WEEK_DAY_S) % 7
        level = 0.35 if day >= 5 else 1.0
        return level * (1.0 + 0.5 * math.sin(2 * math.pi * (t_s / WEEK_DAY_S - 0.25)))
    return 1.0


class _Calls:
    """Draws one call's fields for a service, with the active incidents and deploys applied."""

    def __init__(self, run: Run, rng: random.Random) -> None:
        self.run, self.rng, self.cell = run, rng, run.cell
        self.count = 0
        tenants = tenant_names(run.cell.tenants)
        self.tenants = tenants
        self.tenant_cum = list(accumulate(1.0 / (i + 1) ** ZIPF_S for i in range(len(tenants))))
        self.route_cum = list(accumulate(w for _, _, w in ROUTES))
        delivery = run.cell.regime == "delivery"
        self.skew_ns = {(s.name, p): int(rng.uniform(-MAX_SKEW_S, MAX_SKEW_S) * NS) if delivery else 0
                        for s in run.services for p in range(PRODUCERS)}

    def tenant(self) -> str:
        rng = self.rng
        return self.tenants[bisect(self.tenant_cum, rng.random() * self.tenant_cum[-1])]

    def latency(self) -> float:
        rng, shape = self.rng, self.cell.latency
        if shape == "pareto":
            base = 0.9 * _logn(rng, 0.25)
            if rng.random() < 0.08:
                base = 0.9 * (1.0 + rng.paretovariate(1.4))
            return base
        if shape == "bimodal":
            return 0.12 * _logn(rng, 0.3) if rng.random() < 0.55 else 2.4 * _logn(rng, 0.35)
        if shape == "longgen":
            return 15.0 * _logn(rng, 0.55)
        return 1.2 * _logn(rng, 0.45)

    def call(self, service: Service, t_s: float, tenant: str, route: str | None,
             active: list[Incident]) -> list[tuple[float, dict]]:
        """The call's event and maybe its evaluation, each with the true time its producer sends it."""
        rng, run = self.rng, self.run
        self.count += 1
        producer = rng.randrange(PRODUCERS)
        t_ns = run.start_ns + int(t_s * NS) + self.skew_ns[(service.name, producer)]
        if route is None:
            route = ROUTES[bisect(self.route_cum, rng.random() * self.route_cum[-1])][0]
        streaming = route == "/chat"
        longgen = self.cell.latency == "longgen"
        timeout = 300.0 if longgen else 60.0
        labels = {"service.name": service.name, "gen_ai.request.model": service.model, "app.tenant.id": tenant}
        hits = [i.kind for i in active if all(labels.get(k) == v for k, v in i.labels.items())] if active else ()
        deployed = {d.kind for d in run.deploys if t_s >= d.start_s and d.labels["service.name"] == service.name} \
            if run.deploys else ()
        latency_x, ttfc_x, error_p, in_x, out_x, injection_p, retrieval_x, quality = (
            1.0, 1.0, BASE_ERROR_P, 1.0, 1.0, INJECTION_P, 1.0, 0.0)
        for kind in hits:
            if kind == "latency_spike":
                latency_x *= 3.0
            elif kind == "error_burst":
                error_p = 0.25
            elif kind == "tenant_tokens":
                in_x *= 4.0
            elif kind == "ttfc_regression":
                ttfc_x *= 4.0
            elif kind == "output_collapse":
                out_x *= 0.05
            elif kind == "safety_wave":
                injection_p = 0.25
            elif kind == "retrieval_slowdown":
                retrieval_x *= 5.0
            elif kind == "quality_drop":
                quality -= 0.3
        if "model_version" in deployed:
            latency_x *= 1.3
        if "prompt_change" in deployed:
            in_x *= 2.0
        if tenant == BATCH_TENANT:
            in_x *= 3.0
        inference = self.latency() * service.speed * latency_x
        retrieval = 0.18 * _logn(rng, 0.35) * retrieval_x
        input_tokens = max(1, int(900 * _logn(rng, 0.8) * in_x))
        cached = inference < 0.3 and self.cell.latency == "bimodal"
        error = None
        status = 200
        if rng.random() < error_p:
            error, status = rng.choice((("timeout", 504), ("rate_limit_exceeded", 429), ("rate_limit_exceeded", 429),
                                        ("internal_server_error", 500)))
            inference = timeout if error == "timeout" else (0.05 if status == 429 else inference * 0.3)
        inference = min(inference, timeout)
        output_tokens = 0 if error else max(1, int((2500 if longgen else service.out_tokens)
                                                   * _logn(rng, 0.7) * out_x))
        injection = rng.random() < injection_p
        blocked = injection and rng.random() < 0.5
        duration = retrieval + inference
        event = {
            "event.id": f"rg-{run.seed}-{self.count:x}",
            "time_unix_nano": t_ns,
            "service.name": service.name,
            "service.version": "2.1.0" if "model_version" in deployed else "2.0.3",
            "service.instance.id": f"{service.name}-pod-{producer}",
            "deployment.environment.name": "production",
            "gen_ai.provider.name": service.provider,
            "gen_ai.request.model": service.model,
            "gen_ai.response.model": service.model + ("-2027-02" if "model_version" in deployed else "-2026-11"),
            "gen_ai.operation.name": "chat",
            "gen_ai.request.stream": streaming,
            "gen_ai.client.operation.duration": duration,
            "error.type": error,
            "http.response.status_code": status,
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.usage.cache_read.input_tokens": input_tokens if cached else 0,
            "gen_ai.response.finish_reasons": [("error" if error else "content_filter" if blocked else "stop")],
            "app.cost.usd": round((input_tokens * service.usd_per_1k_in * (0.1 if cached else 1.0)
                                   + output_tokens * service.usd_per_1k_out) / 1000, 7),
            "app.tenant.id": tenant,
            "app.route": route,
            "app.prompt.version": "v4" if "prompt_change" in deployed else "v3",
            "app.safety.prompt_injection": injection,
            "app.safety.blocked": blocked,
            "app.stage.retrieval.duration": retrieval,
            "app.stage.inference.duration": inference,
        }
        if streaming and not error:
            first = retrieval + min(inference, 0.25 + inference * rng.uniform(0.03, 0.12) * ttfc_x)
            event["gen_ai.response.time_to_first_chunk"] = first
            if ttfc_x > 1.0:
                event["gen_ai.client.operation.duration"] = max(duration, first)
        if OMIT_ERROR_TYPE and error is None and producer % 2:
            del event["error.type"]
        events = [(t_s + duration, event)]
        if not error and rng.random() < EVALUATION_P:
            score = min(1.0, max(0.0, rng.gauss(0.82 + quality, 0.08)))
            delay = rng.uniform(2.0, 30.0)
            events.append((t_s + duration + delay, {
                "event.id": f"{event['event.id']}-ev", "event.kind": "evaluation",
                "time_unix_nano": t_ns + int((duration + delay) * NS),
                "service.name": service.name, "gen_ai.provider.name": service.provider,
                "gen_ai.request.model": service.model, "app.tenant.id": tenant, "app.route": route,
                "gen_ai.response.id": event["event.id"], "gen_ai.evaluation.name": "groundedness",
                "gen_ai.evaluation.score.value": round(score, 3)}))
        return events


def _logn(rng: random.Random, sigma: float) -> float:
    """A lognormal factor with median 1 (``gauss`` is cheaper than ``lognormvariate``)."""
    return math.exp(rng.gauss(0.0, sigma))


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        p *= rng.random()
        k += 1
    return k


def generate(run: Run) -> Iterator[dict]:
    """Yield the run's events in the order the collector receives them (arrival order, duplicates included)."""
    for delivery in deliveries(run):
        yield delivery.event


class Delivery(NamedTuple):
    """One event as the collector receives it. Times are seconds from the start on the true clock."""

    arrival_s: float
    #: when the call really started (the producer's clock may say otherwise)
    true_s: float
    #: 0 for the first send, 1 and 2 for redeliveries of the same event
    copy: int
    event: dict


def deliveries(run: Run) -> Iterator[Delivery]:
    """The run's events as deliveries, in arrival order."""
    rng = random.Random(f"regimes:{run.cell.name}:{run.seed}")
    calls = _Calls(run, rng)
    cell, regime = run.cell, run.cell.regime
    delivery = regime == "delivery"
    in_flight: list[tuple[float, int, Delivery]] = []  # (arrival s, tie-break, delivery)
    order = 0
    second = 0
    duration = run.duration_s
    while second < duration:
        active = [i for i in run.incidents if i.start_s <= second < i.end_s]
        level = rhythm(regime, second)
        arrivals: list[tuple[float, Service, str, str | None]] = []
        for service in run.services:
            rate = cell.rate * level
            labels = series_labels(service)
            for incident in active:
                if incident.labels == labels and incident.kind in ("traffic_stall", "traffic_drop"):
                    rate *= 0.0 if incident.kind == "traffic_stall" else 0.15
            for _ in range(_poisson(rng, rate)):
                arrivals.append((rng.random(), service, calls.tenant(), None))
            for incident in active:
                if incident.kind == "traffic_surge" and incident.labels["service.name"] == service.name:
                    tenant = incident.labels["app.tenant.id"]
                    share = _share(calls, tenant)
                    for _ in range(_poisson(rng, 5.0 * rate * share)):
                        arrivals.append((rng.random(), service, tenant, None))
            if regime == "batch" and service is run.services[0] and second % BATCH_EVERY_S < BATCH_LENGTH_S:
                for _ in range(_poisson(rng, 3.0 * cell.rate)):
                    arrivals.append((rng.random(), service, BATCH_TENANT, "/summarize"))
        for offset, service, tenant, route in arrivals:
            t_s = second + offset
            for sent_s, event in calls.call(service, t_s, tenant, route, active):
                copies = 1
                if delivery and rng.random() < DUPLICATE_P:
                    copies = rng.choice((2, 3))
                for copy in range(copies):
                    delay = rng.expovariate(1 / 0.3)
                    if delivery and rng.random() < LATE_P:
                        delay += rng.uniform(0.0, MAX_LATE_S)
                    if copy:
                        delay += rng.uniform(0.5, 30.0)  # a redelivery after a lost acknowledgement
                    order += 1
                    heapq.heappush(in_flight, (sent_s + delay, order, Delivery(sent_s + delay, t_s, copy, event)))
        second += 1
        while in_flight and in_flight[0][0] < second:
            yield heapq.heappop(in_flight)[2]
    while in_flight:
        yield heapq.heappop(in_flight)[2]


def _share(calls: _Calls, tenant: str) -> float:
    index = calls.tenants.index(tenant)
    previous = calls.tenant_cum[index - 1] if index else 0.0
    return (calls.tenant_cum[index] - previous) / calls.tenant_cum[-1]
