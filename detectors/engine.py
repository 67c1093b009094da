"""The detection engine: validated telemetry events in, anomaly records (the pinned format) out, in event time only.

Events are summed per series key into event-time buckets (``bucket_s``); a bucket closes once the watermark (the
largest event time seen, or the one given to ``advance``) is ``allowed_lateness_s`` past its end, and then every
signal's detector scores and learns the window once. Closing by watermark, never by wall clock, is what makes a
replay of a file give exactly the records the live pipeline gave, and lets silence be detected without new events.

An event joins one series per key set (``detectors.keysets``): its model series, and its tenant and route series
where those fields are present, each watched on its key set's signals.

Per-key state (open buckets, the recent ring, detectors, episodes) is one picklable object; ``checkpoint`` saves the
keys that changed, and a key seen for the first time is restored from the store, so a restarted worker, or the new
owner of a partition, carries on without a fresh warm-up. Checkpoints carry ``STATE_VERSION``: one written by a
version whose state had other fields is not restored (that series warms up afresh) instead of being misread.

Trouble with state never stops detection (docs/limits.md, Engine and state): a checkpoint that cannot be loaded
(store down, wrong type, unreadable) is logged and counted, and the series starts afresh; a failed save keeps every
changed and evicted series for the next checkpoint; restored state whose time is ahead of what can be true (the wall
clock plus the ingest skew) is pulled back to the engine's watermark instead of swallowing every real event; and the
number of series is capped per service (``detectors.cardinality``), with one ``series.cap`` record when a cap is hit.

A bucket close judges in full only the series that need it (docs/limits.md, what is not bounded): once a series'
ring holds nothing but silent buckets, and no episode of a signal that observes nothing in silence is open, it
*rests*: a silent bucket changes its ring, and the detectors of those signals, not at all, so each bucket judges
only the signals that read silence itself (``traffic``: a drop or a stall; an SLO's burn rate), and the episodes of
the others take their calm steps at once (``Episode.rest``) when the series gets data again or is saved.
The records, and the saved state, are the ones judging every signal on every bucket gives.

>>> from inferwatch.detectors.config import DetectorSettings
>>> engine = DetectionEngine(DetectorSettings(enabled=["errors"]))
>>> event = {"event.id": "e", "service.name": "chat", "gen_ai.provider.name": "openai",
...          "gen_ai.request.model": "m", "gen_ai.client.operation.duration": 1.0, "error.type": None}
>>> records = [r for i in range(4000) for r in engine.process(
...     {**event, "time_unix_nano": i * 500_000_000, "error.type": "timeout" if 3000 <= i < 3100 else None})]
>>> [(r["status"], r["signal"], r["severity"], r["time_unix_nano"] // 10**9) for r in records]
[('firing', 'error.rate', 'critical', 1530), ('resolved', 'error.rate', 'critical', 1725)]
"""
from __future__ import annotations

import hashlib
import heapq
import json
import logging
import pickle
import time
from collections import Counter
from typing import Any, Callable

from inferwatch.detectors import checkpoint
from inferwatch.detectors.bucket import CallBucket, call_values
from inferwatch.detectors.cardinality import CAP_KIND, CAP_SIGNAL, SeriesCaps
from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.contract import NS, AnomalyRecord
from inferwatch.detectors.episodes import Episode
from inferwatch.detectors.keysets import KeySet
from inferwatch.detectors.pickling import Slotted
from inferwatch.detectors.registry import build_key_sets
from inferwatch.detectors.state import StateStore

log = logging.getLogger(__name__)

#: bump when a pickled class (Series, Bucket, a detector, Episode) changes its fields (``detectors.checkpoint``
#: refuses a checkpoint of other slots by itself, but not one of other fields in the series or a custom state)
#: 8: a header (version, layout) and the engine's classes by index; 7: deflated, shared stage fields, interned tally
#: keys; 6: detectors as slot tuples; 5: bucket slots as ACCUMULATORS
STATE_VERSION = 8
#: a resting series sleeps only through at least this many bucket closes known in advance (else the look-ahead
#: costs more than the closes it saves)
MIN_SLEEP_BUCKETS = 4
#: zlib level of checkpoints (zlib's default: within 1 % of level 9's size, 5 % smaller than level 1's)
CHECKPOINT_ZLIB_LEVEL = 6
#: how far ahead of the wall clock an event time may be (the pipeline's ``ingest.max_future_skew_s`` default)
DEFAULT_FUTURE_SKEW_S = 300.0


class Series(Slotted):
    """Everything the engine keeps for one series key; pickled as a whole into the state store."""

    __slots__ = ("key", "labels", "open", "next_close", "ring", "detectors", "episodes", "last_seen_ns")

    def __init__(self, key: str, labels: dict, next_close: int) -> None:
        self.key = key
        self.labels = labels
        self.open: dict[int, CallBucket] = {}
        self.next_close = next_close
        self.ring: list[CallBucket] = []
        self.detectors: dict[str, Any] = {}
        self.episodes: dict[str, Episode] = {}
        self.last_seen_ns = 0


def fingerprint(detector: str, signal: str, labels: dict) -> str:
    """Stable for the same problem on the same series: what downstream deduplicates and groups on."""
    text = json.dumps([detector, signal, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _dump(series: Series) -> bytes:
    """The series as a checkpoint (``detectors.checkpoint``: a header, then the deflated pickle): a model series
    ~10 KB, a tenant series ~1.7 KB after 20 minutes of traffic, ~0.2 ms per changed series and checkpoint."""
    return checkpoint.encode(series, STATE_VERSION, CHECKPOINT_ZLIB_LEVEL)


def restore_series(state: bytes | None) -> Series | None:
    """A checkpoint read back (``inferwatch slo`` reads SLO series this way); None as for the engine's own restore."""
    return _load(state)


def _load(state: bytes | None) -> Series | None:
    """The series in a checkpoint of this ``STATE_VERSION`` and class layout; None for no checkpoint or another one."""
    return checkpoint.decode(state, STATE_VERSION)


class DetectionEngine:
    """Events in, anomaly records out. ``clock`` (wall time, seconds) and ``future_skew_s`` are consulted only when a
    series is restored, to tell state written after an event from the future; ``on_count(what, n)`` hears every
    guard that fired (``counts`` keeps the totals): ``series_overflow_events``, ``series_cap_reached``,
    ``state_repaired``, ``checkpoint_load_failed``."""

    def __init__(self, settings: DetectorSettings, store: StateStore | None = None,
                 clock: Callable[[], float] = time.time, future_skew_s: float = DEFAULT_FUTURE_SKEW_S,
                 on_count: Callable[[str, int], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.key_sets = build_key_sets(settings)
        self.counts: Counter[str] = Counter()
        self._clock = clock
        self._future_skew_ns = int(future_skew_s * NS)
        self._on_count = on_count
        self._caps = SeriesCaps(
            settings.max_services,
            [settings.max_series_per_service if k.index == 0 else settings.max_extra_series_per_service
             for k in self.key_sets],
            [k.fields.index("service.name") + 1 if "service.name" in k.fields else None for k in self.key_sets])
        self.signals = self.key_sets[0].signals
        self._bucket_ns = int(settings.bucket_s * NS)
        self._exemplars = settings.exemplars
        self._lateness_ns = int(settings.allowed_lateness_s * NS)
        self._series: dict[tuple, Series] = {}
        self._dirty: set[tuple] = set()
        self._evicted: dict[str, bytes] = {}
        self._watermark_ns = 0
        self._closed_through: int | None = None  # every bucket index below this is closed
        #: per restored series, the last event time its checkpoint holds: Kafka redelivers from the last committed
        #: offset (at least once), and those events must not be counted twice
        self._replayed_through: dict[tuple, int] = {}
        #: per key set, the signals whose observation of a silent ring is not None: all a resting series is judged on
        self._silence_readers = [[s for s in k.signals if s.observe([k.silent] * settings.long_window_buckets)
                                  is not None] for k in self.key_sets]
        #: per key set, the names of the others: a resting series skips them
        self._skipped_at_rest = [[s.name for s in k.signals if s not in readers]
                                 for k, readers in zip(self.key_sets, self._silence_readers)]
        #: per series, how many silent buckets in a row its ring took in (only buckets closed by this engine)
        self._calm: dict[tuple, int] = {}
        #: per resting series, the calm steps its skipped signals' episodes owe (``Episode.rest`` pays them)
        self._resting: dict[tuple, int] = {}
        #: series-buckets judged on every signal (``full``) and, resting, on the silence readers only (``silence``)
        self.judged: Counter[str] = Counter()
        #: sleeping extra series -> the bucket index they wake at; a bucket close does not visit them (``_sleep``)
        self._sleeping: dict[tuple, int] = {}
        self._wakeups: list[tuple[int, tuple]] = []  # heap of (wake index, key); stale entries are skipped

    @property
    def watermark_ns(self) -> int:
        return self._watermark_ns

    def process(self, event: dict) -> list[AnomalyRecord]:
        """Add one validated, normalized event; return the records of the buckets its time closed."""
        t = event["time_unix_nano"]
        records = self.advance(t) if t > self._watermark_ns else []
        call = call_values(event)  # worked out once for every series the event joins
        for key_set in self.key_sets:
            key = key_set.key(event)
            if key is not None:
                self._add(key_set, key, event, call, t, records)
        return records

    def _add(self, key_set: KeySet, key: tuple, event: dict, call: tuple | None, t: int, records: list[dict]) -> None:
        series = self._series.get(key)
        if series is None:
            key, cap = self._caps.fold(key)
            if cap is not None:
                self._count("series_overflow_events")
            series = self._series.get(key)
            if series is None:
                if cap is not None and (cap == "per-service" or key_set.index == 0):  # one record per cap reached
                    self._count("series_cap_reached")
                    records.append(self._cap_record(key_set, key, cap, t))
                series = self._open_series(key_set, key, records, folded=cap is not None)
        if self._sleeping and self._sleeping.pop(key, None) is not None:  # woken by data: first judge what it slept
            records += self._close(key, series, self._closed_through, key_set, frozenset())
        if self._replayed_through:
            replayed_through = self._replayed_through.get(key)
            if replayed_through is not None:
                if t <= replayed_through:  # already inside the restored state: redelivered after a crash
                    return
                del self._replayed_through[key]
        index = t // self._bucket_ns
        if index < series.next_close:
            index = series.next_close
        bucket = series.open.get(index)
        if bucket is None:
            bucket = series.open[index] = key_set.new_bucket()
        if key_set.sums_calls:
            bucket.add_sums(event, call, self._exemplars)
        else:
            bucket.add(event, self._exemplars)
        if t > series.last_seen_ns:
            series.last_seen_ns = t
        self._dirty.add(key)

    def advance(self, watermark_ns: int) -> list[AnomalyRecord]:
        """Move event time forward to ``watermark_ns``; close due buckets of every series (silence included)."""
        if watermark_ns <= self._watermark_ns:
            return []
        self._watermark_ns = watermark_ns
        closable = (watermark_ns - self._lateness_ns) // self._bucket_ns
        if self._closed_through is None:
            self._closed_through = closable
            return []
        if closable <= self._closed_through:
            return []
        self._wake(closable)
        self._closed_through = closable
        records: list[dict] = []
        idle_ns = int(self.settings.idle_evict_s * NS)
        awake: list[list] = [[] for _ in self.key_sets]  # per key set, the series this close visits
        sleeping = self._sleeping
        for item in self._series.items():
            if item[0] not in sleeping:
                awake[item[0][0]].append(item)
        for key_set in self.key_sets:  # the primary key set first: the extra series defer to what it fires on
            firing = self._firing() if key_set.index else frozenset()
            for key, series in awake[key_set.index]:
                records += self._close(key, series, closable, key_set, firing)
                if watermark_ns - series.last_seen_ns > idle_ns:
                    self._evict(key, series)
                elif key in self._resting and key_set.index:
                    self._sleep(key, series, key_set, idle_ns)
        return records

    def _sleep(self, key: tuple, series: Series, key_set: KeySet, idle_ns: int) -> None:
        """Let a resting extra series (a tenant, a route gone quiet) skip the bucket closes whose judgement is known
        in advance, so a close costs what the series with data or a due timer cost, not all series in memory.

        A resting series is judged on traffic alone, on the same silent ring every bucket (observation ``x``), with
        its traffic episode not active: a copy of its traffic detector is run ahead (score, then learn ``x``, as the
        judgement does) until a score is not 0 or the horizon (the eviction time, ``max_gap_buckets``). Those
        buckets change nothing but the detector and the episode's calm count, and emit nothing, so the series sleeps
        through them; when it wakes (the horizon, or data arriving) its ``_close`` judges them in order, exactly as
        bucket by bucket. Its checkpoint lags meanwhile, which a restore makes good the same way (``next_close``)."""
        readers = self._silence_readers[key_set.index]
        if len(readers) != 1:  # SLO series read their burn windows in silence too: they stay awake
            return
        signal = readers[0]
        detector, episode = series.detectors.get(signal.name), series.episodes.get(signal.name)
        x = signal.observe(series.ring)
        if detector is None or episode is None or episode.active or x is None:
            return
        evict_at = (series.last_seen_ns + idle_ns - self._lateness_ns) // self._bucket_ns
        horizon = min(self.settings.max_gap_buckets, evict_at - series.next_close)
        probe, steps = pickle.loads(pickle.dumps(detector, pickle.HIGHEST_PROTOCOL)), 0
        while steps < horizon and probe.score_one(x) == 0.0:
            probe.learn_one(x)
            steps += 1
        if steps >= MIN_SLEEP_BUCKETS:
            self._sleeping[key] = wake = series.next_close + steps
            heapq.heappush(self._wakeups, (wake, key))

    def _wake(self, closable: int) -> None:
        """Wake the sleeping series whose horizon this close reaches. Each first judges the buckets it slept through
        up to the last close (known to emit nothing), so this close treats it as one that never slept (the same
        ``max_gap_buckets`` cut if event time jumped)."""
        wakeups, sleeping = self._wakeups, self._sleeping
        while wakeups and wakeups[0][0] <= closable:
            wake, key = heapq.heappop(wakeups)
            if sleeping.get(key) == wake:
                del sleeping[key]
                self._close(key, self._series[key], self._closed_through, self.key_sets[key[0]], frozenset())

    def _firing(self) -> frozenset:
        """``((service.name, environment), signal name)`` of every episode on a primary series open or resolved within
        ``extra_series_defer_s``. An extra series (a tenant, a route) opens no episode on a signal its service is
        firing on, or fired on lately: that record covers it (and names the top tenants and routes in
        ``contributors``), so one slow model does not page once per tenant, and the thin tenants of a deploy's service,
        whose longer windows see the same shift minutes later, do not page after the service has learned it."""
        since = self._watermark_ns - int(self.settings.extra_series_defer_s * NS)
        return frozenset((self._scope(series), name) for key, series in self._series.items()
                         if key[0] == 0 for name, episode in series.episodes.items()
                         if episode.active or episode.emitted_ns >= since > 0)

    def _scope(self, series: Series) -> tuple:
        """What an extra series defers to: its service in its environment (staging never mutes prod)."""
        labels = series.labels
        return labels.get("service.name"), labels.get(self.settings.environment_field)

    def checkpoint(self) -> int:
        """Save the state of every series changed since the last checkpoint; returns how many were saved.

        If the store raises, the error propagates (the caller logs and counts it) and nothing is forgotten: the
        changed series stay dirty and the evicted ones pending, so the next checkpoint saves them."""
        if self.store is None:
            self._dirty.clear()
            return 0
        items = dict(self._evicted)
        for key in self._dirty:
            series = self._series.get(key)
            if series is not None:
                if key in self._sleeping:  # saved as judged through the last close (it sleeps on)
                    self._close(key, series, self._closed_through, self.key_sets[key[0]], frozenset())
                self._pay_rest(key, series)
                items[series.key] = _dump(series)
        if not items:
            return 0
        self.store.save_many(items)
        self._dirty.clear()
        self._evicted.clear()
        return len(items)

    def series_count(self) -> int:
        return len(self._series)

    def primary_series(self) -> list[Series]:
        """The series of the primary key set now in memory, for read-only export (the worker's baseline and score
        gauges, ``streams.signal_metrics``): callers read ``labels``, ``ring`` and ``detectors`` and change nothing."""
        return [series for key, series in self._series.items() if key[0] == 0]

    def _open_series(self, key_set: KeySet, key: tuple, records: list[dict], folded: bool) -> Series:
        """A series not in memory: its evicted state still waiting for a checkpoint, else restored from the store
        (repaired if from the future; its missed buckets closed into ``records``), else new."""
        store_key = key_set.store_key(key)
        self._caps.opened(key, folded)
        pending = self._evicted.pop(store_key, None)
        if pending is not None:
            series = _load(pending)
            self._dirty.add(key)  # its state is saved by the next checkpoint, as it would have been once evicted
        else:
            series = self._restore(store_key)
            if series is not None and not self._repair(series):
                self._replayed_through[key] = series.last_seen_ns
        if series is not None:
            if self._closed_through is not None and series.next_close < self._closed_through:
                records += self._close(key, series, self._closed_through, key_set,
                                       self._firing() if key_set.index else frozenset())
        else:
            series = Series(store_key, key_set.labels(key), self._closed_through or 0)
        self._series[key] = series
        return series

    def _restore(self, store_key: str) -> Series | None:
        """The series' checkpoint, or None if it has none or it cannot be loaded: store down, a value of the wrong
        type, bytes that do not unpickle. That series warms up afresh; detection goes on."""
        if self.store is None:
            return None
        try:
            return _load(self.store.load(store_key))
        except Exception as exc:  # the boundary to the store: whatever it raises, this one series starts fresh
            self._count("checkpoint_load_failed")
            log.warning("cannot load the checkpoint of series %s (%s: %s); it warms up afresh",
                        store_key, type(exc).__name__, exc)
            return None

    def _repair(self, series: Series) -> bool:
        """Pull restored state back if its time is ahead of what can be true (the wall clock plus the skew allowed,
        or this engine's watermark if that is later): a checkpoint written after an event from 2099 would otherwise
        drop every real event as a redelivery and put the rest into a bucket that never closes. True if repaired."""
        limit_ns = max(int(self._clock() * NS) + self._future_skew_ns, self._watermark_ns)
        limit = limit_ns // self._bucket_ns + 1
        if series.last_seen_ns <= limit_ns and series.next_close <= limit:
            return False
        now = self._closed_through if self._closed_through is not None else self._watermark_ns // self._bucket_ns
        series.next_close = min(series.next_close, now)
        series.last_seen_ns = min(series.last_seen_ns, self._watermark_ns)
        for index in [i for i in series.open if i >= limit]:  # buckets from the future, never to close
            del series.open[index]
        self._count("state_repaired")
        log.warning("series %s was restored with state from the future; its time is set back to the watermark",
                    series.key)
        return True

    def _evict(self, key: tuple, series: Series) -> None:
        if key in self._dirty:
            if self.store is not None:
                self._pay_rest(key, series)
                self._evicted[series.key] = _dump(series)
            self._dirty.discard(key)
        del self._series[key]
        self._calm.pop(key, None)
        self._resting.pop(key, None)
        self._sleeping.pop(key, None)
        self._caps.closed(key)

    def _count(self, what: str, n: int = 1) -> None:
        self.counts[what] += n
        if self._on_count is not None:
            self._on_count(what, n)

    def _cap_record(self, key_set: KeySet, key: tuple, cap: str, t_ns: int) -> AnomalyRecord:
        """The one record that says a cap was reached: events of new series of this service (or new services) now
        fold into the overflow series ``key``."""
        if cap == "services":
            labels, limit = {"service.name": key[1], "series.key": "service.name"}, self.settings.max_services
        else:
            labels = {"service.name": self._caps.service(key), "series.key": ",".join(key_set.fields)}
            limit = self.settings.max_series_per_service if key_set.index == 0 else \
                self.settings.max_extra_series_per_service
        labels = {name: value for name, value in labels.items() if value is not None}
        return {
            "time_unix_nano": t_ns,
            "kind": CAP_KIND,
            "signal": CAP_SIGNAL,
            "labels": labels,
            "value": float(limit),
            "expected": float(limit),
            "unit": "series in memory (the cap); further ones fold into the __other__ series",
            "score": 1.0,
            "severity": "warning",
            "detector": "series_cap",
            "fingerprint": fingerprint("series_cap", CAP_SIGNAL, labels),
            "exemplars": [],
            "status": "firing",
            "episode_started_unix_nano": t_ns,
            "peak_score": 1.0,
        }

    def _close(self, key: tuple, series: Series, closable: int, key_set: KeySet,
               firing: frozenset) -> list[AnomalyRecord]:
        if closable <= series.next_close:  # a restored series may be ahead of a restarted engine's watermark
            return []
        settings, bucket_ns = self.settings, self._bucket_ns
        long_window, window = settings.long_window_buckets, settings.window_buckets
        ring, buckets = series.ring, series.open
        records: list[AnomalyRecord] = []
        calm = self._calm.get(key, 0)
        full = silence = 0
        for index in range(max(series.next_close, closable - settings.max_gap_buckets), closable):
            bucket = buckets.pop(index, None)
            if bucket is None:
                if calm >= long_window and self._rests(key, series, key_set):
                    # the ring is all silent buckets and stays so: only the silence readers can see this bucket
                    self._resting[key] += 1
                    silence += 1
                    records += self._judge(series, (index + 1) * bucket_ns, key_set, firing,
                                           self._silence_readers[key_set.index])
                    continue
                bucket = key_set.silent
                calm += 1
            else:
                calm = 0
                self._pay_rest(key, series)
                self._resting.pop(key, None)
            full += 1
            ring.append(bucket)
            if len(ring) > long_window:
                del ring[0]
            records += self._judge(series, (index + 1) * bucket_ns, key_set, firing)
            if len(ring) > window:
                left = ring[-window - 1]
                if left.calls:  # not a silent bucket: that one is shared (still in other windows) and empty anyway
                    left.compact()
        if buckets:
            for stale in [i for i in buckets if i < closable]:
                del buckets[stale]
        series.next_close = closable
        self._calm[key] = calm
        if full:
            self.judged["full"] += full
        if silence:
            self.judged["silence"] += silence
        return records

    def _rests(self, key: tuple, series: Series, key_set: KeySet) -> bool:
        """Whether a series whose ring is all silent may skip the signals that observe nothing in silence: yes
        unless one of their episodes is open (its calm buckets resolve it, a record)."""
        if key in self._resting:
            return True
        episodes = series.episodes
        if any(episodes[name].active for name in self._skipped_at_rest[key_set.index]):  # all exist: judged before
            return False
        self._resting[key] = 0
        return True

    def _pay_rest(self, key: tuple, series: Series) -> None:
        """The calm steps a resting series' skipped episodes owe, paid at once (before a save or a full judgement)."""
        owed = self._resting.get(key)
        if owed:
            settings = self.key_sets[key[0]].episode
            for name in self._skipped_at_rest[key[0]]:
                series.episodes[name].rest(owed, settings)
            self._resting[key] = 0

    def _judge(self, series: Series, t_ns: int, key_set: KeySet, firing: frozenset,
               signals: list | None = None) -> list[AnomalyRecord]:
        records = []
        ring, detectors, episodes, settings = series.ring, series.detectors, series.episodes, key_set.episode
        service = self._scope(series) if firing else None
        for signal in key_set.signals if signals is None else signals:
            name = signal.name
            x = signal.observe(ring)
            detector = detectors.get(name)
            if detector is None:
                detector = detectors[name] = signal.make_detector()
            episode = episodes.get(name)
            if episode is None:
                episode = episodes[name] = Episode()
            if x is None:
                score = 0.0
            else:
                score = detector.score_one(x)
                detector.learn_one(x)
            deferred = firing and not episode.active and (service, name) in firing
            status = episode.step(0.0 if deferred else score, t_ns, settings, signal.confirm)
            if status is not None:
                records.append(self._record(signal, series, episode, x, detector, score, status, t_ns))
        return records

    def _record(self, signal, series: Series, episode: Episode, x, detector, score: float, status: str,
                t_ns: int) -> AnomalyRecord:
        record: AnomalyRecord = {
            "time_unix_nano": t_ns,
            "kind": signal.kind,
            "signal": signal.signal,
            "labels": dict(series.labels),
            "value": None,
            "expected": None,
            "score": round(score, 8),
            "severity": episode.severity,
            "detector": signal.detector,
            "fingerprint": "",
            "exemplars": [],
            "status": status,
            "episode_started_unix_nano": episode.started_ns,
            "peak_score": round(episode.peak, 8),
        }
        if x is not None:
            described = signal.describe(x, detector, series.ring)
            record["labels"].update(described.pop("labels", {}))
            record.update(described)
        record["fingerprint"] = fingerprint(signal.detector, signal.signal, record["labels"])
        return record
