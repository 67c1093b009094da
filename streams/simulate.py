"""``inferwatch simulate``: realistic LLM telemetry with named, labelled incidents injected, to a file or to Kafka.

``generate`` is a pure, seeded generator (same arguments, same events) of the pinned event schema: several services,
providers, models, tenants, routes and a canary variant; a daily rhythm (``day_s`` compresses the day for short
runs); per-stage durations; tokens, cost, streaming time to first chunk, safety flags, input language and topic, a
small input embedding that depends on them; evaluation and feedback events. Incidents (``detectors.incidents``) change the events whose labels match them.

>>> events = list(generate(seed=1, start_ns=START_NS, duration_s=60, rate_per_s=5, incidents=[]))
>>> len(events) > 200, events == sorted(events, key=lambda e: e["time_unix_nano"])
(True, True)
>>> sorted({e["event.kind"] for e in events})
['evaluation', 'feedback', 'llm_call']
>>> sorted([*CALL_EFFECTS, *ARRIVAL_KINDS]) == sorted(INCIDENT_KINDS)  # every incident kind does something
True
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import random
import sys
from dataclasses import dataclass
from typing import Callable, Iterator

from inferwatch.detectors.contract import NS
from inferwatch.detectors.durations import parse_duration
from inferwatch.detectors.incidents import INCIDENT_KINDS, Incident, parse_incident, write_manifest

#: 2026-01-01T00:00:00Z, a fixed default so runs are reproducible
START_NS = 1_767_225_600 * NS
STAGES = ("retrieval", "prompt", "inference", "postprocess", "delivery")
ERROR_TYPES = (("timeout", 504, 0.35), ("rate_limited", 429, 0.35), ("server_error", 500, 0.2),
               ("invalid_request", 400, 0.1))
LANGUAGES = (("en", 0.62), ("es", 0.12), ("de", 0.1), ("fr", 0.09), ("ja", 0.07))
SHIFT_LANGUAGE = "pt"
#: the length of ``app.input.embedding``: small, like a projected sentence embedding, so the files stay small
EMBEDDING_DIMS = 8
#: what the inputs of an ``embedding_shift`` incident are about (not one of any deployment's topics)
SHIFT_TOPIC = "new-request-kind"
#: per-call probabilities of an error and of a prompt-injection flag without incidents
BASE_ERROR_P = 0.002
BASE_INJECTION_P = 0.003
#: the error probability of a canary call during a ``canary_regression``
CANARY_ERROR_P = 0.03


@dataclass(frozen=True)
class Deployment:
    """One series: a service calling one provider's model, with its own latency, size and quality profile."""

    service: str
    provider: str
    model: str
    share: float
    latency_s: float  # median inference seconds
    out_tokens: float  # median output tokens
    usd_per_1k_in: float
    usd_per_1k_out: float
    quality: float  # mean evaluation score
    routes: tuple[str, ...]
    topics: tuple[str, ...]
    canary: float = 0.0  # share of calls on the canary variant


DEPLOYMENTS = (
    Deployment("support-bot", "openai", "gpt-4o", 0.24, 1.4, 220, 0.0025, 0.01, 0.86, ("/chat", "/escalate"),
               ("billing", "account", "shipping", "returns"), canary=0.1),
    Deployment("support-bot", "anthropic", "claude-sonnet-4", 0.14, 1.8, 260, 0.003, 0.015, 0.88, ("/chat",),
               ("billing", "account", "shipping", "returns")),
    Deployment("search-summarizer", "openai", "gpt-4o-mini", 0.26, 0.7, 140, 0.00015, 0.0006, 0.8,
               ("/summarize", "/answer"), ("news", "docs", "product")),
    Deployment("search-summarizer", "gcp.vertex_ai", "gemini-2.5-flash", 0.14, 0.6, 150, 0.0003, 0.0025, 0.79,
               ("/summarize",), ("news", "docs", "product"), canary=0.1),
    Deployment("code-assistant", "anthropic", "claude-opus-4", 0.12, 3.2, 480, 0.015, 0.075, 0.9,
               ("/complete", "/review"), ("python", "javascript", "sql")),
    Deployment("code-assistant", "aws.bedrock", "mistral-large", 0.10, 2.2, 380, 0.002, 0.006, 0.82,
               ("/complete",), ("python", "javascript", "sql")),
)
TENANTS = tuple(f"tenant-{i:03d}" for i in range(1, 25))
_TENANT_WEIGHTS = tuple(1.0 / (i + 1) for i in range(len(TENANTS)))


@dataclass
class CallEffects:
    """What the incidents hitting one call change about it; each field starts at the no-incident value."""

    rng: random.Random
    #: seconds since the start of the stream
    t_s: float
    event: dict
    latency: float = 1.0  # inference latency factor
    error_p: float = BASE_ERROR_P
    output: float = 1.0  # output tokens factor
    quality_shift: float = 0.0
    injection_p: float = BASE_INJECTION_P
    retrieval: float = 1.0  # retrieval stage duration factor
    topic: str = ""  # what the input embedding is about


def _latency_spike(fx: CallEffects, incident: Incident) -> None:
    fx.latency *= incident.magnitude


def _latency_creep(fx: CallEffects, incident: Incident) -> None:
    progress = min(1.0, (fx.t_s - incident.start_s) / incident.duration_s)
    fx.latency *= 1.0 + (incident.magnitude - 1.0) * progress


def _error_burst(fx: CallEffects, incident: Incident) -> None:
    fx.error_p = max(fx.error_p, incident.magnitude)


def _output_collapse(fx: CallEffects, incident: Incident) -> None:
    fx.output *= incident.magnitude


def _quality_drop(fx: CallEffects, incident: Incident) -> None:
    fx.quality_shift -= incident.magnitude


def _safety_wave(fx: CallEffects, incident: Incident) -> None:
    fx.injection_p = max(fx.injection_p, incident.magnitude)


def _language_shift(fx: CallEffects, incident: Incident) -> None:
    if fx.rng.random() < incident.magnitude:
        fx.event["app.input.language"] = SHIFT_LANGUAGE


def _embedding_shift(fx: CallEffects, incident: Incident) -> None:
    if fx.rng.random() < incident.magnitude:
        fx.topic = SHIFT_TOPIC


def _retrieval_slowdown(fx: CallEffects, incident: Incident) -> None:
    fx.retrieval *= incident.magnitude


def _canary_regression(fx: CallEffects, incident: Incident) -> None:
    if fx.event["app.variant"] == "canary":
        fx.latency *= incident.magnitude
        fx.error_p = max(fx.error_p, CANARY_ERROR_P)


#: what each incident kind (``detectors.incidents.INCIDENT_KINDS``, where its effect is described) does to a call
#: it hits; the traffic kinds change the arrivals instead (``ARRIVAL_KINDS``, applied in ``generate``)
CALL_EFFECTS: dict[str, Callable[[CallEffects, Incident], None]] = {
    "latency_spike": _latency_spike, "latency_creep": _latency_creep, "error_burst": _error_burst,
    "output_collapse": _output_collapse, "quality_drop": _quality_drop, "safety_wave": _safety_wave,
    "language_shift": _language_shift, "embedding_shift": _embedding_shift,
    "retrieval_slowdown": _retrieval_slowdown, "canary_regression": _canary_regression,
}
ARRIVAL_KINDS = ("traffic_surge", "traffic_stall", "traffic_drop")


def _labels_of(d: Deployment) -> dict:
    return {"service.name": d.service, "gen_ai.provider.name": d.provider, "gen_ai.request.model": d.model}


@functools.lru_cache(maxsize=None)
def _centroid(name: str) -> tuple[float, ...]:
    """A fixed point in embedding space per topic or language (seeded by its name, the same in every run)."""
    rng = random.Random(f"centroid:{name}")
    return tuple(rng.gauss(0.0, 1.0) for _ in range(EMBEDDING_DIMS))


def _embedding(rng: random.Random, topic: str, language: str) -> list[float]:
    """A unit vector near the topic's point, nudged towards the language's: inputs about one thing look alike."""
    v = [t + 0.5 * l + rng.gauss(0.0, 0.6) for t, l in zip(_centroid(f"topic:{topic}"),
                                                             _centroid(f"language:{language}"))]
    norm = math.sqrt(sum(x * x for x in v))
    return [round(x / norm, 4) for x in v]


def default_incidents(duration_s: float) -> list[Incident]:
    """Two sudden incidents after the detectors' warm-up, for a run with none given (those that fit in the run)."""
    first = max(900.0, 0.4 * duration_s)
    second = max(first + 600.0, 0.7 * duration_s)
    incidents = [
        Incident("latency_spike", first, 300.0, _labels_of(DEPLOYMENTS[0])),
        Incident("error_burst", second, 240.0, _labels_of(DEPLOYMENTS[2])),
    ]
    return [i for i in incidents if i.start_s + i.duration_s <= duration_s]


class _World:
    """Draws one event's attributes and outcome, with the active incidents applied."""

    def __init__(self, rng: random.Random, seed: int, start_ns: int, day_s: float) -> None:
        self.rng = rng
        self.seed = seed
        self.start_ns = start_ns
        self.day_s = day_s
        self.count = 0

    def rhythm(self, t_s: float) -> float:
        """Traffic multiplier over the day: quiet at night, busy in the afternoon."""
        if self.day_s <= 0:
            return 1.0
        return 1.0 + 0.5 * math.sin(2 * math.pi * (t_s / self.day_s - 0.35))

    def pick(self, labels: dict) -> dict:
        rng = self.rng
        choices = [d for d in DEPLOYMENTS if all(_labels_of(d).get(k, v) == v for k, v in labels.items())]
        deployment = rng.choices(choices or DEPLOYMENTS, weights=[d.share for d in choices or DEPLOYMENTS])[0]
        attributes = {
            "deployment": deployment,
            "app.tenant.id": rng.choices(TENANTS, weights=_TENANT_WEIGHTS)[0],
            "app.route": rng.choice(deployment.routes),
            "app.variant": "canary" if rng.random() < deployment.canary else "stable",
            "app.input.language": rng.choices([l for l, _ in LANGUAGES], weights=[w for _, w in LANGUAGES])[0],
            "app.input.topic": rng.choice(deployment.topics),
        }
        for key in ("app.tenant.id", "app.route", "app.variant", "app.input.language", "app.input.topic"):
            if key in labels:
                attributes[key] = labels[key]
        return attributes

    def call(self, t_ns: int, attributes: dict, active: list[Incident]) -> list[dict]:
        rng = self.rng
        d: Deployment = attributes["deployment"]
        self.count += 1
        event_id = f"sim-{self.seed}-{self.count}"
        event = {"event.id": event_id, "event.kind": "llm_call", "time_unix_nano": t_ns, "schema.version": "1",
                 "deployment.environment.name": "prod", "trace_id": f"{rng.getrandbits(128):032x}",
                 **_labels_of(d), "gen_ai.operation.name": "chat", "gen_ai.response.model": d.model,
                 **{k: v for k, v in attributes.items() if k != "deployment"},
                 "app.prompt.version": "v7"}
        fx = CallEffects(rng, (t_ns - self.start_ns) / NS, event, topic=event["app.input.topic"])
        for incident in active:
            if incident.kind in CALL_EFFECTS and incident.matches(event):
                CALL_EFFECTS[incident.kind](fx, incident)
        input_tokens = int(rng.lognormvariate(math.log(600), 0.6))
        if event["app.input.language"] == SHIFT_LANGUAGE:
            input_tokens = int(input_tokens * 1.8)
        chars = int(input_tokens * rng.uniform(3.6, 4.4))
        error = None
        if rng.random() < fx.error_p:
            error, status, _ = rng.choices(ERROR_TYPES, weights=[w for _, _, w in ERROR_TYPES])[0]
            event["http.response.status_code"] = status
        else:
            event["http.response.status_code"] = 200
        injection = rng.random() < fx.injection_p
        blocked = injection and rng.random() < 0.5
        output_tokens = None if error or blocked else max(0, int(rng.lognormvariate(math.log(d.out_tokens), 0.5)
                                                                 * fx.output))
        inference = d.latency_s * rng.lognormvariate(0.0, 0.3) * fx.latency
        if output_tokens is not None:
            inference *= math.sqrt(max(output_tokens, 1) / d.out_tokens) if fx.output == 1.0 else 1.0
        if error == "timeout":
            inference = 30.0
        stages = {"retrieval": rng.lognormvariate(math.log(0.12), 0.4) * fx.retrieval,
                  "prompt": rng.lognormvariate(math.log(0.01), 0.3),
                  "inference": inference, "postprocess": rng.lognormvariate(math.log(0.03), 0.3),
                  "delivery": rng.lognormvariate(math.log(0.015), 0.3)}
        duration = sum(stages.values())
        streaming = d.service != "search-summarizer"
        event.update({
            "error.type": error,
            "gen_ai.client.operation.duration": round(duration, 6),
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.usage.cache_read.input_tokens": int(input_tokens * rng.uniform(0.0, 0.5)),
            "gen_ai.request.stream": streaming,
            "gen_ai.response.finish_reasons": ["error"] if error else (["content_filter"] if blocked else ["stop"]),
            "app.cost.usd": round((input_tokens * d.usd_per_1k_in + (output_tokens or 0) * d.usd_per_1k_out) / 1000, 8),
            "app.input.chars": chars,
            "app.input.embedding": _embedding(rng, fx.topic, event["app.input.language"]),
            "app.safety.prompt_injection": injection,
            "app.safety.pii_detected": rng.random() < 0.004,
            "app.safety.blocked": blocked,
            "app.safety.refusal": rng.random() < 0.003,
            "app.safety.toxicity_score": round(rng.betavariate(1, 30), 4),
            **{f"app.stage.{name}.duration": round(value, 6) for name, value in stages.items()},
        })
        if streaming and not error:
            event["gen_ai.response.time_to_first_chunk"] = round(
                stages["retrieval"] + stages["prompt"] + inference * rng.uniform(0.08, 0.15), 6)
        events = [event]
        if not error:
            quality = d.quality + fx.quality_shift - (0.04 if event["app.input.language"] != "en" else 0.0)
            score = min(1.0, max(0.0, rng.gauss(quality, 0.06)))
            common = {**_labels_of(d), "deployment.environment.name": event["deployment.environment.name"],
                      "app.route": event["app.route"], "app.variant": event["app.variant"],
                      "app.tenant.id": event["app.tenant.id"], "app.input.language": event["app.input.language"],
                      "app.input.topic": event["app.input.topic"], "gen_ai.usage.input_tokens": input_tokens,
                      "gen_ai.response.id": event_id, "trace_id": event["trace_id"]}
            if rng.random() < 0.15:
                events.append({"event.id": f"{event_id}-eval", "event.kind": "evaluation", "time_unix_nano": t_ns + 1,
                               **common, "gen_ai.evaluation.name": "answer_relevance",
                               "gen_ai.evaluation.score.value": round(score, 4)})
            if rng.random() < 0.05:
                liked = rng.random() < 0.4 + 0.6 * score
                events.append({"event.id": f"{event_id}-fb", "event.kind": "feedback", "time_unix_nano": t_ns + 2,
                               **common, "app.feedback.value": 1 if liked else 0})
        return events


def generate(seed: int, start_ns: int, duration_s: float, rate_per_s: float, incidents: list[Incident],
             day_s: float = 86400.0) -> Iterator[dict]:
    """Yield events in time order: Poisson arrivals at ``rate_per_s`` (times the daily rhythm), incidents applied."""
    rng = random.Random(seed)
    world = _World(rng, seed, start_ns, day_s)
    second = 0
    while second < duration_s:
        active = [i for i in incidents if i.start_s <= second < i.start_s + i.duration_s]
        arrivals = [(rng.random(), world.pick({})) for _ in range(_poisson(rng, rate_per_s * world.rhythm(second)))]
        for incident in active:
            if incident.kind == "traffic_surge":
                share = sum(d.share for d in DEPLOYMENTS if all(_labels_of(d).get(k, v) == v
                                                                for k, v in incident.labels.items()))
                extra = rate_per_s * world.rhythm(second) * share * (incident.magnitude - 1.0)
                if "app.tenant.id" in incident.labels:
                    extra = rate_per_s * world.rhythm(second) * 0.05 * incident.magnitude
                arrivals += [(rng.random(), world.pick(incident.labels)) for _ in range(_poisson(rng, extra))]
        kept = []
        for offset, attributes in arrivals:
            labels = {**_labels_of(attributes["deployment"]), **attributes}
            if any(i.kind in ("traffic_stall", "traffic_drop") and i.matches(labels) and rng.random() >= i.magnitude
                   for i in active):
                continue
            kept.append((offset, attributes))
        kept.sort(key=lambda pair: pair[0])
        batch: list[dict] = []
        for offset, attributes in kept:
            t_ns = start_ns + int((second + offset) * NS)
            batch += world.call(t_ns, attributes, active)
        batch.sort(key=lambda e: e["time_unix_nano"])
        yield from batch
        second += 1


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def incident_argument(spec: str) -> Incident:
    """``parse_incident`` for argparse: its message (what is wrong, what is accepted) reaches the user."""
    try:
        return parse_incident(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("simulate", help="generate realistic LLM telemetry with labelled incidents")
    parser.add_argument("--seed", type=int, default=7, help="random seed: same seed and options, same events")
    parser.add_argument("--duration", type=parse_duration, default=3600.0,
                        help="event-time span, e.g. 90m, 6h, 1h30m (default 1h)")
    parser.add_argument("--rate", type=float, default=20.0, help="mean calls per second (before the daily rhythm)")
    parser.add_argument("--start", type=int, default=START_NS, help="start time, unix nanoseconds")
    parser.add_argument("--day-length", type=parse_duration, default=86400.0,
                        help="period of the daily rhythm, e.g. 2h (compress it for short runs; 0 = flat)")
    parser.add_argument("--incident", action="append", type=incident_argument, default=None,
                        metavar="KIND@START+DURATION[:label=value,...]",
                        help=f"inject an incident (repeatable); kinds: {', '.join(INCIDENT_KINDS)}")
    parser.add_argument("--no-incidents", action="store_true", help="clean traffic (no default incidents)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", help="write JSON lines here (default: stdout)")
    target.add_argument("--kafka", action="store_true", help="publish to the telemetry topic")
    parser.add_argument("--manifest", help="write the labelled incidents (JSON) here")
    parser.set_defaults(run=run)


def run(args, settings) -> int:
    incidents = [] if args.no_incidents else (args.incident or default_incidents(args.duration))
    events = generate(args.seed, args.start, args.duration, args.rate, incidents, day_s=args.day_length)
    if args.manifest:
        write_manifest(args.manifest, incidents, args.start, args.duration, args.seed)
    count = 0
    if args.kafka:
        from inferwatch.streams.kafka_security import client_config
        from inferwatch.streams.produce import ensure_reachable
        from inferwatch.streams.producer import TelemetryProducer
        ensure_reachable(settings.kafka)
        producer = TelemetryProducer(settings.kafka.bootstrap, topic=settings.kafka.telemetry_topic,
                                     config=client_config(settings.kafka))
        for event in events:
            producer.send(event)
            count += 1
        producer.flush()
    else:
        out = open(args.out, "w") if args.out else sys.stdout
        try:
            for event in events:
                out.write(json.dumps(event, separators=(",", ":")) + "\n")
                count += 1
        finally:
            if args.out:
                out.close()
    print(f"simulate: {count} events, {len(incidents)} incidents", file=sys.stderr)
    return 0
