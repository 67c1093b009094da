"""Typed settings of the detector set (the ``detectors:`` section of the config file).

The numbers a user tunes are settings here, with their defaults, so they are set in YAML and ``inferwatch replay
--config`` shows the effect on their own history before the live pipeline uses them. What is a fixed part of a
method rather than a choice (how many distinct values a bucket tallies, the fewest observations before a window is
judged, numerical floors) stays a named constant in the module that uses it (``detectors.bucket``,
``detectors.signals``, ``detectors.category_mix``, ``detectors.variant_regression``, ...).

>>> s = DetectorSettings()
>>> s.bucket_s, s.series_key[0], s.slos
(15.0, 'service.name', [])
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EpisodeSettings:
    """When a run of scores opens, updates and resolves one episode (one ongoing problem = one record stream)."""

    #: a bucket whose score reaches this is anomalous (scores mean the same surprise on every series)
    fire_score: float = field(default=0.9999, metadata={"gt": 0, "le": 1})
    #: at or above this the episode is critical, below it a warning
    critical_score: float = field(default=0.9999999, metadata={"gt": 0, "le": 1})
    #: consecutive anomalous buckets before an episode opens (drift detectors open on the first)
    confirm_buckets: int = field(default=2, metadata={"ge": 1})
    #: consecutive buckets under ``clear_score`` before an episode resolves
    resolve_buckets: int = field(default=8, metadata={"ge": 1})
    clear_score: float = field(default=0.99, metadata={"ge": 0, "le": 1})
    #: while an episode lasts, a reminder record at most this often (event time), besides severity changes
    renotify_s: float = field(default=900.0, metadata={"gt": 0})


@dataclass(frozen=True)
class BaselineSettings:
    """How the per-series baselines learn."""

    #: closed buckets a detector learns from before it may fire
    warmup_buckets: int = field(default=40, metadata={"ge": 1})
    #: half-life, in buckets, of the exponentially weighted baselines (follows slow change and daily rhythm)
    half_life_buckets: float = field(default=120.0, metadata={"gt": 0})
    #: half-lives, in buckets, of the request-rate forecast's level and slope (Holt): fast enough to ride the daily rhythm
    traffic_half_life_buckets: float = field(default=20.0, metadata={"gt": 0})
    traffic_trend_half_life_buckets: float = field(default=60.0, metadata={"gt": 0})
    #: a traffic window is judged only when it is at least this many calls away from the forecast...
    traffic_min_change_calls: float = field(default=10.0, metadata={"ge": 0})
    #: ...and at least this factor above it (a surge) or below it (a drop): evidence and effect size, not noise
    traffic_min_ratio: float = field(default=1.5, metadata={"ge": 1})
    #: a per-call mean (latency, tokens, cost, a stage) pages only once it is at least this factor above (or below)
    #: its baseline: on a busy route a 5 % change is statistically certain and no incident
    min_mean_ratio: float = field(default=1.2, metadata={"ge": 1})
    #: after this many consecutive refused (anomalous) buckets the baseline accepts the new level
    max_refused_buckets: int = field(default=120, metadata={"ge": 1})
    #: a per-call mean (latency, tokens, cost, a stage) that has sat at a new level for this many buckets in a row is
    #: a new normal (a deploy: a model version 30 % slower, a prompt twice as long) and is learned at once, so it
    #: pages once and resolves before the page escalates...
    rebase_after_buckets: int = field(default=20, metadata={"ge": 1})
    #: ...provided the new level is within this factor of the old one; a bigger change keeps paging until it is fixed
    max_rebase_ratio: float = field(default=2.5, metadata={"gt": 1})
    #: points scored at or above this are not learned (a creeping level must not drag its own baseline along)
    learn_below_score: float = field(default=0.99, metadata={"gt": 0, "le": 1})
    #: floor of the baseline's standard deviation in log space (0.05 = 5 %), so a flat series is not infinitely touchy
    min_log_std: float = field(default=0.05, metadata={"gt": 0})


@dataclass(frozen=True)
class RateSettings:
    """Rare 0/1 events (errors, safety flags): a Poisson tail test of the last window against the learned rate."""

    #: rate assumed before any data, and how many calls of weight that assumption has
    prior_rate: float = field(default=0.005, metadata={"gt": 0, "lt": 1})
    prior_calls: float = field(default=200.0, metadata={"gt": 0})
    #: never fire on fewer events than this in the window (one error in a quiet minute is not an incident)
    min_events: int = field(default=3, metadata={"ge": 1})


#: what an SLO counts as a bad event: ``latency`` (a call that failed or took longer than ``threshold``
#: seconds), ``errors`` (a call that failed), ``ttfc`` (a streamed call whose first chunk came later than
#: ``threshold`` seconds), ``evaluation`` (an evaluation score below ``threshold``)
SLO_INDICATORS = ("latency", "errors", "ttfc", "evaluation")


@dataclass(frozen=True)
class SloSettings:
    """One objective the user declared, in the manner of OpenSLO / Sloth: which events it covers (``selector``), how
    it is cut into series (``group_by``), what a bad event is (``indicator`` and ``threshold``), the share that must be
    good (``objective``) over the compliance ``window_s``, and the burn-rate alert windows (Google SRE workbook).

    No SLO is declared by default: an objective is a promise the user makes, and a built-in one pages on services
    whose normal is slower than our guess (a long-generation route).

    >>> slo = SloSettings(name="chat-latency", indicator="latency", threshold=8.0, objective=0.995,
    ...                   selector={"service.name": "chat", "deployment.environment.name": "prod"})
    >>> slo.budget, slo.group_by
    (0.005, ['service.name'])
    """

    name: str
    #: ``latency``, ``errors``, ``ttfc`` or ``evaluation`` (``SLO_INDICATORS``)
    indicator: str = "errors"
    #: seconds for ``latency`` and ``ttfc``; the lowest good score for ``evaluation``; unused for ``errors``
    threshold: float = 0.0
    #: share of events that must be good, e.g. 0.99
    objective: float = field(default=0.99, metadata={"gt": 0, "lt": 1})
    #: exact values event fields must have to count (service, model, tenant, route, environment...); empty = all
    selector: dict[str, str] = field(default_factory=dict)
    #: one SLO series per distinct combination of these fields; must include ``service.name`` (the partition key)
    group_by: list[str] = field(default_factory=lambda: ["service.name"])
    #: the compliance window the error budget is counted over (``inferwatch slo`` shows what is left)
    window_s: float = field(default=30 * 86400.0, metadata={"gt": 0})
    #: burn-rate windows in the SRE workbook manner: (long, short, burn) pairs; the first pair pages critical
    fast_long_s: float = field(default=3600.0, metadata={"gt": 0})
    fast_short_s: float = field(default=300.0, metadata={"gt": 0})
    fast_burn: float = field(default=14.4, metadata={"gt": 0})
    slow_long_s: float = field(default=21600.0, metadata={"gt": 0})
    slow_short_s: float = field(default=1800.0, metadata={"gt": 0})
    slow_burn: float = field(default=6.0, metadata={"gt": 0})

    @property
    def budget(self) -> float:
        return round(1.0 - self.objective, 12)

    def __post_init__(self) -> None:
        where = f"slos[{self.name}]"
        if self.indicator not in SLO_INDICATORS:
            raise ValueError(f"{where}.indicator: must be one of {', '.join(SLO_INDICATORS)}, got {self.indicator!r}")
        if self.indicator in ("latency", "ttfc") and not self.threshold > 0:
            raise ValueError(f"{where}.threshold: a {self.indicator} SLO needs a threshold in seconds > 0")
        if not 0.0 < self.objective < 1.0:
            raise ValueError(f"{where}.objective: must be between 0 and 1 (e.g. 0.99), got {self.objective}")
        if "service.name" not in self.group_by:
            raise ValueError(f"{where}.group_by: must include service.name (the Kafka message key)")


@dataclass(frozen=True)
class DetectorSettings:
    #: event fields that make up a series key; one baseline is learned per distinct combination
    series_key: list[str] = field(
        default_factory=lambda: ["service.name", "gen_ai.provider.name", "gen_ai.request.model"]
    )
    #: the event field naming the deployment environment; it joins every series key (model, tenant, route and SLO
    #: series) right after ``service.name``, so staging never trains or pages prod. Events without it still join
    #: their series (without the label). Empty = off
    environment_field: str = "deployment.environment.name"
    #: detectors that run (names of ``detectors.registry.SIGNALS``); empty = all
    enabled: list[str] = field(default_factory=list)
    #: event-time bucket width; detectors score and learn once per closed bucket
    bucket_s: float = field(default=15.0, metadata={"gt": 0})
    #: buckets summed into the short window most signals are judged on
    window_buckets: int = field(default=4, metadata={"ge": 1})
    #: fewest calls in the window for a per-call mean (latency, time to first chunk, tokens, cost, a stage) to be
    #: judged: the mean of a handful of calls swings too much to page on (a small tenant's two slow calls)
    min_window_calls: int = field(default=20, metadata={"ge": 1})
    #: buckets of the long window (category mix, variants, contributor reference)
    long_window_buckets: int = field(default=20, metadata={"ge": 1})
    #: a bucket closes once the watermark (max event time seen) is this far past its end
    allowed_lateness_s: float = field(default=5.0, metadata={"ge": 0})
    #: a series with no event for this long is dropped from memory (its checkpoint stays in the store)
    idle_evict_s: float = field(default=7200.0, metadata={"gt": 0})
    #: at most this many silent buckets are closed one by one after a gap; older ones are skipped
    max_gap_buckets: int = field(default=240, metadata={"ge": 1})
    #: exemplar event ids/trace ids carried per record
    exemplars: int = field(default=3, metadata={"ge": 0})
    #: pipeline stages whose ``app.stage.<name>.duration`` is watched (adaptive threshold) and used to say where
    #: extra latency sits
    stages: list[str] = field(default_factory=lambda: ["retrieval", "prompt", "inference", "postprocess", "delivery"])
    #: more ways to cut events into series, besides ``series_key``: each list of fields is one key set, and an event
    #: joins a key set's series only when it has every field (a tenant series needs ``app.tenant.id``). Each must
    #: hold ``service.name``, the Kafka message key, so one series never spans partitions (and worker engines).
    #: Each key set costs throughput (docs/detectors.md, speed and memory): routes, variants... are one line away.
    extra_series_keys: list[list[str]] = field(default_factory=lambda: [["service.name", "app.tenant.id"]])
    #: the signals those extra series are watched on: any of latency, errors, traffic, input_tokens, output_tokens,
    #: cost (they read call-level sums only, ``bucket.CallBucket``), to bound cost and false alarms. Tokens and cost
    #: answer finance's first question: which tenant is burning our money
    extra_series_signals: list[str] = field(
        default_factory=lambda: ["latency", "errors", "traffic", "input_tokens", "cost"])
    #: what ``baseline.min_mean_ratio`` is on extra series: a tenant's tokens or latency page when they moved by
    #: this factor (its few calls make smaller moves common; "which tenant is burning our money" is about big ones)
    extra_series_min_mean_ratio: float = field(default=2.0, metadata={"ge": 1})
    #: an extra series opens no episode on a signal its service's model series fired on within this long
    #: (``DetectionEngine._firing``): the service's record already covers its tenants
    extra_series_defer_s: float = field(default=1800.0, metadata={"ge": 0})
    #: an extra series' bucket is anomalous from this score (instead of ``episode.fire_score``): there are many of
    #: them (one per tenant and service), and at the model series' threshold chance alone would page every few hours
    extra_series_fire_score: float = field(default=0.999999, metadata={"gt": 0, "le": 1})
    #: categorical input fields whose mix is watched for drift
    categorical_fields: list[str] = field(default_factory=lambda: ["app.input.language", "app.input.topic"])
    #: fields whose values are reported as contributors (who is behind a surge or burst)
    contributor_fields: list[str] = field(default_factory=lambda: ["app.tenant.id", "app.route", "app.variant"])
    #: a feedback event whose ``app.feedback.value`` is at most this counts as negative (thumbs down = 0 or -1)
    negative_feedback_at_most: float = 0.0
    baseline_variant: str = "stable"
    episode: EpisodeSettings = field(default_factory=EpisodeSettings)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    rate: RateSettings = field(default_factory=RateSettings)
    #: declared objectives (docs/slo.md); none by default: only the user knows what their service promises
    slos: list[SloSettings] = field(default_factory=list)
    #: a categorical mix must move at least this much (total variation distance) to fire at full score
    mix_min_effect: float = field(default=0.2, metadata={"gt": 0, "le": 1})
    #: how data drift on a numeric input is tested: River's ADWIN on per-bucket means
    drift_delta: float = field(default=0.0002, metadata={"gt": 0, "lt": 1})
    #: input embeddings are randomly projected to at most this many dimensions before their mean is tested
    embedding_dims: int = field(default=16, metadata={"ge": 1})
    #: an embedding mean must move at least this far (Mahalanobis distance in per-call standard deviations) to fire
    #: at full score: a statistically real but small shift on a busy series is no incident
    embedding_min_effect: float = field(default=0.25, metadata={"gt": 0})
    #: services with series in memory per worker partition; events of further services fold into one
    #: ``__other__`` service (docs/limits.md): a user name sent as ``service.name`` cannot exhaust memory
    max_services: int = field(default=1000, metadata={"ge": 1})
    #: primary series (provider x model) per service; further ones fold into the service's ``__other__`` series with
    #: one ``series.cap`` record: real services use a handful of models, 200 is far above that
    max_series_per_service: int = field(default=200, metadata={"ge": 1})
    #: series of each extra key set (tenants, routes, SLO groups) per service, folded likewise beyond it: a request id
    #: sent as the tenant costs one series, and 2,000 covers a large B2B customer base (1,000 Zipf tenants per
    #: service stay under it: a healthy tenant base must not page ``series.cap``); ~4 KB each
    max_extra_series_per_service: int = field(default=2000, metadata={"ge": 1})

    def __post_init__(self) -> None:
        seen = [tuple(self.series_key)]
        for i, fields in enumerate(self.extra_series_keys):
            where = f"extra_series_keys[{i}]"
            if "service.name" not in fields:
                raise ValueError(f"{where}: must include service.name (the Kafka message key), got {list(fields)}")
            if len(set(fields)) != len(fields) or tuple(fields) in seen:
                raise ValueError(f"{where}: {list(fields)} repeats a field or another key set")
            seen.append(tuple(fields))
        names = [slo.name for slo in self.slos]
        if len(set(names)) != len(names):
            raise ValueError(f"slos: names must be unique, got {names}")
