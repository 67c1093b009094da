"""The escalation engine's front door for the worker: ``ingest`` anomaly records, ``tick`` the clock.

``ingest_many`` (and ``ingest``, of one record) is Redis only, one Lua call per batch of records: it never waits on
Slack or PagerDuty, so a detection loop can call it inline. ``tick`` does the wall-clock work (timers, ack expiry,
auto-resolve, and delivering the outbox). A failure is logged with the alert it concerns and counted in
``inferwatch_alerting_errors_total{reason}``; ``tick`` never raises and ``ingest_many`` raises only when Redis is
unreachable (so the records can be retried rather than lost).

Delivery guarantee: every decided message is delivered at least once per idempotency key and, where the provider
lets us check or dedup (Slack message metadata, PagerDuty dedup_key, outbox file), exactly once.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable, Mapping

import orjson
import redis
from prometheus_client import CollectorRegistry

from inferwatch.alerting.config import AlertingSettings
from inferwatch.alerting.engine import Engine, Runbooks
from inferwatch.alerting.metrics import AlertingMetrics
from inferwatch.alerting.notifiers import Notifier, build_notifiers
from inferwatch.alerting.outbox import Outbox
from inferwatch.alerting.runbooks import RunbookError, RunbookLibrary, runbook_directory
from inferwatch.alerting.silences import Silence, SilenceStore
from inferwatch.alerting.store import AlertStore, ParsedRecord
from inferwatch.detectors.contract import DEFAULT_SEVERITY, SEVERITIES, STATUSES  # the record contract (a leaf module)

log = logging.getLogger(__name__)



class InvalidRecord(ValueError):
    """An anomaly record the engine cannot act on (the message names the field)."""


class AlertingService:
    def __init__(self, settings: AlertingSettings, client: redis.Redis, notifiers: dict[str, Notifier],
                 runbooks: Runbooks | None = None, metrics: AlertingMetrics | None = None,
                 clock: Callable[[], float] = time.time, instance: str | None = None) -> None:
        self.settings = settings
        self.redis = client
        self.clock = clock
        self.metrics = metrics or AlertingMetrics()
        self.outbox = Outbox(client, settings.key_prefix, settings.audit_max, settings.retention_s)
        self.store = AlertStore(client, settings.key_prefix, self.outbox, settings.audit_max, settings.retention_s)
        self.silences = SilenceStore(client, settings.key_prefix)
        self.engine = Engine(settings, self.store, self.outbox, self.silences, notifiers, runbooks, self.metrics,
                             instance)

    @classmethod
    def from_settings(cls, settings: AlertingSettings, redis_url: str, *,
                      notifiers: dict[str, Notifier] | None = None, runbooks: Runbooks | None = None,
                      registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time,
                      instance: str | None = None, redis_options: Mapping[str, Any] | None = None,
                      ) -> "AlertingService":
        """Production wiring: notifiers from the targets (console/outbox without credentials), runbooks from disk.

        ``redis_options`` go to ``redis.Redis.from_url`` with the URL (TLS files: ``RedisSettings.client_options()``).

        ``registry`` defaults to a fresh, dedicated CollectorRegistry (``service.metrics.registry``); pass
        ``prometheus_client.REGISTRY`` to expose the counters with the process's default metrics.
        """
        client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30,
                                      **(redis_options or {}))
        return cls(settings, client, notifiers if notifiers is not None else build_notifiers(settings),
                   runbooks if runbooks is not None else load_runbooks(settings.runbooks_dir),
                   AlertingMetrics(registry), clock, instance)

    def ingest(self, record: Mapping[str, Any], now: float | None = None) -> None:
        """Apply one anomaly record: ``ingest_many`` of one."""
        self.ingest_many([record], now)

    def ingest_many(self, records: Iterable[Mapping[str, Any]], now: float | None = None) -> None:
        """Apply anomaly records in order, a batch per round trip to Redis (``store.INGEST_BATCH``); duplicates (same
        or older event time for the fingerprint) change nothing.

        Raises only ``redis.RedisError`` (Redis unreachable), after logging and counting it, so the consumer can
        retry the records instead of committing past them; each record is applied atomically or not at all, and one
        applied already is a duplicate the second time, so retrying is safe. Invalid records and any other failure
        are logged, counted and dropped (an invalid record alone: the others are applied).
        """
        parsed = [p for p in map(self._parse, records) if p is not None]
        if not parsed:
            return
        try:
            outcomes = self.store.ingest(parsed, self.clock() if now is None else now)
        except redis.RedisError as exc:
            log.error("alerting: Redis unavailable while ingesting %d record(s), the first of fingerprint %r: %s",
                      len(parsed), parsed[0].fingerprint, exc)
            self.metrics.errors.labels(reason=f"ingest:{type(exc).__name__}").inc()
            raise
        except Exception as exc:
            log.exception("alerting: ingest failed for %d record(s), the first of fingerprint %r", len(parsed),
                          parsed[0].fingerprint)
            self.metrics.errors.labels(reason=f"ingest:{type(exc).__name__}").inc()
            return
        for outcome, count in outcomes.items():
            self.metrics.records.labels(outcome=outcome).inc(count)

    def _parse(self, record: Any) -> ParsedRecord | None:
        """``parse_record``, or None after logging and counting why the record cannot be applied."""
        try:
            return parse_record(record)
        except InvalidRecord as exc:
            log.warning("alerting: ignoring anomaly record: %s", exc)
            self.metrics.errors.labels(reason="invalid_record").inc()
        except Exception as exc:
            fp = record.get("fingerprint") if isinstance(record, Mapping) else None
            log.exception("alerting: ingest failed for fingerprint %r", fp)
            self.metrics.errors.labels(reason=f"ingest:{type(exc).__name__}").inc()
        return None

    def tick(self, now: float | None = None) -> None:
        """Advance every due alert (timers, ack expiry, auto-resolve), then deliver the outbox."""
        now = self.clock() if now is None else now
        for what, step in (("evaluate", self.engine.evaluate_due), ("drain", self.engine.drain)):
            try:
                step(now)
            except Exception as exc:
                log.exception("alerting: tick %s failed", what)
                self.metrics.errors.labels(reason=f"{what}:{type(exc).__name__}").inc()

    def acknowledge(self, fingerprint: str, actor: str, now: float | None = None, episode: int | None = None) -> bool:
        """Stop escalation until the acknowledgement expires; False if the alert is not pending/firing (or, with
        ``episode``, is in another episode: a click on an old message must not act on a newer one)."""
        return self.engine.acknowledge(fingerprint, actor, self.clock() if now is None else now, episode)

    def resolve(self, fingerprint: str, actor: str, now: float | None = None, episode: int | None = None) -> bool:
        """Resolve by hand; the resolve goes to every target paged in this episode. False if not active (or, with
        ``episode``, in another episode)."""
        return self.engine.resolve(fingerprint, actor, self.clock() if now is None else now, episode)

    def add_silence(self, matchers: dict[str, str], starts_at: float, ends_at: float, comment: str,
                    created_by: str) -> Silence:
        return self.silences.add(matchers, starts_at, ends_at, comment, created_by)

    def expire_silence(self, silence_id: str, now: float | None = None) -> bool:
        """End a silence; the alerts it muted are looked at on the next tick (and paged if still active)."""
        now = self.clock() if now is None else now
        if not self.silences.expire(silence_id, now):
            return False
        self.store.wake_active(now)
        return True

    def close(self) -> None:
        self.redis.close()

    def __enter__(self) -> "AlertingService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_record(record: Mapping[str, Any]) -> ParsedRecord:
    """What the store needs of an anomaly record (its JSON too), or InvalidRecord naming the field.

    >>> parse_record({"fingerprint": "f", "time_unix_nano": 5, "severity": "critical"})[:4]
    ('f', 5, 'firing', 'critical')
    >>> parse_record({"time_unix_nano": 5})
    Traceback (most recent call last):
    ...
    inferwatch.alerting.service.InvalidRecord: fingerprint: missing or not a non-empty string
    """
    if not isinstance(record, Mapping):
        raise InvalidRecord(f"record: expected an object, got {type(record).__name__}")
    fp = record.get("fingerprint")
    if not isinstance(fp, str) or not fp:
        raise InvalidRecord("fingerprint: missing or not a non-empty string")
    event_ns = record.get("time_unix_nano")
    if isinstance(event_ns, bool) or not isinstance(event_ns, int) or event_ns < 0:
        raise InvalidRecord(f"time_unix_nano: expected a non-negative integer, got {event_ns!r}")
    status = record.get("status", "firing")
    if status not in STATUSES:
        raise InvalidRecord(f"status: must be one of {', '.join(STATUSES)}, got {status!r}")
    severity = record.get("severity", DEFAULT_SEVERITY)
    if severity not in SEVERITIES:
        raise InvalidRecord(f"severity: must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    # orjson: a tenth of json.dumps' time, the largest cost of a record here; NaN becomes null as when published
    return ParsedRecord(fp, event_ns, status, severity,
                        orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS))


def load_runbooks(setting: str) -> RunbookLibrary | None:
    """The runbook library of ``alerting.runbooks_dir`` (empty: the shipped runbooks), or None (alerts then go out
    without a runbook) if the directory is missing or invalid."""
    directory = runbook_directory(setting)
    if not directory.is_dir():
        log.warning("alerting: runbook directory %s not found; alerts will carry no runbook", directory)
        return None
    try:
        library = RunbookLibrary.load(directory)
    except RunbookError as exc:
        log.error("alerting: runbooks not loaded (%s); run `inferwatch runbooks lint`", exc)
        return None
    log.info("alerting: %d runbooks loaded from %s", len(library.runbooks), directory)
    return library
