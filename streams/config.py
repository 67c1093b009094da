"""The one configuration object of inferwatch, loaded once from a YAML file plus environment overrides.

Why one object: every process (worker, replay, CLI) must agree on topic names, series keys and policies, and a
typo in a YAML key must fail loudly at start-up with the key's full path instead of silently using a default.

Each package owns the dataclass of its own section (``detectors.config.DetectorSettings``,
``alerting.config.AlertingSettings``); this module composes them and validates generically from the type hints:
unknown keys are errors, types are checked, and every message names the dotted path of the bad key.

>>> s = load_settings(env={"INFERWATCH_KAFKA_BOOTSTRAP": "k:9093"})
>>> s.kafka.bootstrap, s.kafka.telemetry_topic
('k:9093', 'llm.telemetry.v1')
>>> settings_from_mapping({"kafka": {"bootstrapp": "x"}})
Traceback (most recent call last):
...
inferwatch.streams.config.ConfigError: kafka.bootstrapp: unknown key (did you mean bootstrap?)
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import operator
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from inferwatch.alerting.config import AlertingSettings
from inferwatch.detectors.config import DetectorSettings
from inferwatch.streams.schema import DEFAULT_MAX_EVENTS_PER_MESSAGE


class ConfigError(ValueError):
    """Configuration values are missing, unknown, of the wrong type or out of range.

    ``problems`` lists every one found (not only the first), each starting with its dotted key path; the message
    is the one problem, or a count followed by one indented line per problem.
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        lines = self.problems
        super().__init__(lines[0] if len(lines) == 1 else "\n  ".join([f"{len(lines)} problems:", *lines]))


@dataclass(frozen=True)
class KafkaSettings:
    """Where the telemetry comes from and where anomalies and rejects go."""

    bootstrap: str = "localhost:9092"
    telemetry_topic: str = "llm.telemetry.v1"
    anomalies_topic: str = "inferwatch.anomalies.v1"
    dlq_topic: str = "inferwatch.telemetry.dlq"
    #: OpenTelemetry spans as the Collector's Kafka exporter writes them (otlp_proto or otlp_json); "" = not read
    otlp_topic: str = "otlp_spans"
    group_id: str = "inferwatch"
    #: partitions created for our topics when they do not exist yet; scale-out is more partitions + more workers
    partitions: int = field(default=4, metadata={"ge": 1})
    #: a message larger than this is rejected to the DLQ as oversized (Kafka's own default limit is ~1 MB)
    max_message_bytes: int = field(default=1_000_000, metadata={"gt": 0})
    #: how to reach a secured cluster (docs/secure-clusters.md); applied to every Kafka client by streams.kafka_security
    security_protocol: typing.Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    #: OAUTHBEARER is not offered: aiokafka takes OAuth tokens only from a token provider written in code
    sasl_mechanism: typing.Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str = ""
    #: a secret: set it with INFERWATCH_KAFKA_SASL_PASSWORD or point sasl_password_file at a mounted secret
    sasl_password: str = field(default="", repr=False)
    sasl_password_file: str = ""
    #: PEM CA bundle to trust (empty: the system store, enough for clusters with public certificates)
    ssl_ca_file: str = ""
    #: PEM client certificate and key, for clusters that authenticate clients by certificate (mTLS)
    ssl_cert_file: str = ""
    ssl_key_file: str = ""

    def __post_init__(self) -> None:
        if self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL") and not self.sasl_username:
            raise ValueError(f"sasl_username is required with security_protocol {self.security_protocol}")
        if bool(self.ssl_cert_file) != bool(self.ssl_key_file):
            raise ValueError("ssl_cert_file and ssl_key_file go together (client certificate and its key)")


@dataclass(frozen=True)
class OtlpSettings:
    """How spans from ``kafka.otlp_topic`` are assembled into traces (streams/otlp/traces.py): a bounded wait and
    bounded memory. A trace whose root span does not come in time is emitted without stage durations."""

    #: a trace waits this long (event time after its last span, or wall time after its last span arrived) for its
    #: root span
    trace_wait_s: float = field(default=30.0, metadata={"gt": 0})
    #: traces held per OTLP partition; beyond it the oldest is emitted at once (counted ``evicted``)
    max_traces: int = field(default=10_000, metadata={"ge": 1})


@dataclass(frozen=True)
class RedisSettings:
    """Redis holds detector checkpoints and the escalation engine's alert state."""

    url: str = "redis://localhost:6379/0"
    #: for ``rediss://`` URLs (TLS): PEM CA bundle to trust (empty: the system store), client certificate and key;
    #: an ACL user and password go in the URL: ``rediss://alice:pw@host:6380/0`` (docs/secure-clusters.md)
    ssl_ca_file: str = ""
    ssl_cert_file: str = ""
    ssl_key_file: str = ""

    def client_options(self) -> dict[str, str]:
        """Keyword arguments for ``redis.Redis.from_url(url, ...)`` beyond what the URL says: the TLS files.

        >>> RedisSettings("rediss://alice:pw@r:6380/0", ssl_ca_file="/ca.pem").client_options()
        {'ssl_ca_certs': '/ca.pem'}
        """
        if not self.url.startswith("rediss://"):
            return {}
        files = {"ssl_ca_certs": self.ssl_ca_file, "ssl_certfile": self.ssl_cert_file, "ssl_keyfile": self.ssl_key_file}
        return {option: path for option, path in files.items() if path}


@dataclass(frozen=True)
class StateSettings:
    """How per-key detector state is checkpointed so a restart or rebalance needs no fresh warm-up."""

    #: seconds between checkpoints of the keys whose state changed
    checkpoint_interval_s: float = field(default=5.0, metadata={"gt": 0})
    #: HMAC key that signs checkpoints, so state read back from Redis is never unpickled unless we wrote it
    signing_key: str = field(default="", repr=False)
    #: where a random signing key is kept when none is configured (fine for one machine; set the key for several)
    signing_key_file: str = ".run/state.key"
    #: a checkpoint not saved again for this long expires from Redis (its series warms up afresh if it ever returns):
    #: longer than any outage or weekend lull, short enough that keys of series long gone do not pile up
    checkpoint_ttl_s: float = field(default=7 * 86400.0, metadata={"gt": 0})


@dataclass(frozen=True)
class IngestSettings:
    """Bounds on what one producer can make a worker do (docs/limits.md, Ingest): the pipeline enforces them."""

    #: an event stamped further than this ahead of the wall clock is dead-lettered; event time never passes it
    max_future_skew_s: float = field(default=300.0, metadata={"ge": 0})
    #: a JSON array with more elements than this is one rejection for the whole message
    max_events_per_message: int = field(default=DEFAULT_MAX_EVENTS_PER_MESSAGE, metadata={"ge": 1})
    #: ``event.id``s remembered to drop redelivered events: at most this many, and at most this much event time
    dedup_window_events: int = field(default=50_000, metadata={"ge": 0})
    dedup_window_s: float = field(default=300.0, metadata={"ge": 0})


@dataclass(frozen=True)
class UiSettings:
    """The web console (``inferwatch ui``, docs/console.md): where it listens and who may use it."""

    host: str = "127.0.0.1"
    port: int = field(default=8089, metadata={"ge": 0, "le": 65535})
    #: a secret: requests need ``Authorization: Bearer <token>`` or a session from the login form (INFERWATCH_UI_TOKEN)
    token: str = field(default="", repr=False)
    #: a header set by an authenticating reverse proxy (e.g. ``X-Forwarded-User``); honoured only when set here
    trusted_user_header: str = ""
    #: how long a login session lasts
    session_ttl_s: float = field(default=12 * 3600.0, metadata={"gt": 0})


@dataclass(frozen=True)
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    otlp: OtlpSettings = field(default_factory=OtlpSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    state: StateSettings = field(default_factory=StateSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    detectors: DetectorSettings = field(default_factory=DetectorSettings)
    alerting: AlertingSettings = field(default_factory=AlertingSettings)
    ui: UiSettings = field(default_factory=UiSettings)


#: Every environment variable inferwatch reads, with the config key it overrides. Secrets belong here, not in YAML.
ENV_OVERRIDES: dict[str, str] = {
    "INFERWATCH_KAFKA_BOOTSTRAP": "kafka.bootstrap",
    "INFERWATCH_KAFKA_GROUP": "kafka.group_id",
    "INFERWATCH_KAFKA_SASL_USERNAME": "kafka.sasl_username",
    "INFERWATCH_KAFKA_SASL_PASSWORD": "kafka.sasl_password",
    "INFERWATCH_KAFKA_SASL_PASSWORD_FILE": "kafka.sasl_password_file",
    "INFERWATCH_REDIS_URL": "redis.url",
    "INFERWATCH_STATE_KEY": "state.signing_key",
    "INFERWATCH_UI_TOKEN": "ui.token",
    **AlertingSettings.ENV_OVERRIDES,
}
#: The variable naming the YAML file (the ``--config`` flag wins over it).
CONFIG_ENV = "INFERWATCH_CONFIG"


def load_settings(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load the YAML file (``path``, else ``$INFERWATCH_CONFIG``, else defaults) and apply env overrides."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV)
    data: dict[str, Any] = _read_yaml(path) if path else {}
    for var, dotted in ENV_OVERRIDES.items():
        if env.get(var):
            _set_dotted(data, dotted, env[var])
    return settings_from_mapping(data)


def _read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(Path(path).read_bytes().decode("utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise ConfigError(f"{path}: cannot read config: nested too deeply") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
    return loaded


def settings_from_mapping(data: Mapping[str, Any]) -> Settings:
    return from_mapping(Settings, data, "")


def _set_dotted(data: dict, dotted: str, value: str) -> None:
    """Put an env override at its key; a section that is not a mapping is left for the loader to report."""
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return
    node[leaf] = value


#: Checks a field's metadata may declare, next to the field: ``field(default=15.0, metadata={"gt": 0})``. The
#: loader applies them to the value read from YAML or the environment. Every float must also be finite unless its
#: metadata says ``"nonfinite": True``.
RANGE_CHECKS: dict[str, tuple[Any, str]] = {
    "gt": (operator.gt, ">"), "ge": (operator.ge, ">="), "lt": (operator.lt, "<"), "le": (operator.le, "<="),
}
_INVALID = object()


def from_mapping(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from ``data``, strictly: unknown keys, wrong types and values out of range raise one
    ConfigError that lists every problem, each starting with its dotted key path."""
    problems: list[str] = []
    built = _build(cls, data, path, problems)
    if problems:
        raise ConfigError(problems)
    return built


def _build(cls: type, data: Any, path: str, problems: list[str]) -> Any:
    if not isinstance(data, Mapping):
        problems.append(f"{path or '<root>'}: expected a mapping, got {type(data).__name__}")
        return _INVALID
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    before = len(problems)
    kwargs = {}
    for key, value in data.items():
        if not isinstance(key, str):
            problems.append(f"{_join(path, str(key))}: keys must be strings, got {type(key).__name__}")
        elif key not in fields:
            problems.append(f"{_join(path, key)}: unknown key ({_suggest(key, fields)})")
        else:
            kwargs[key] = _field_value(fields[key], hints[key], value, _join(path, key), problems)
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in data:
            problems.append(f"{_join(path, name)}: required")
    if len(problems) > before:
        return _INVALID
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # the class's own cross-field checks (__post_init__)
        problems.append(_under(path, str(exc)))
        return _INVALID


def _suggest(key: str, fields: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, fields, n=1)
    return f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(fields))}"


def _under(path: str, message: str) -> str:
    """Prefix a section's own error with the section's path; a message starting with a relative key joins it."""
    if path and _RELATIVE_KEY.match(message):
        return f"{path}.{message}"
    return f"{path or '<root>'}: {message}"


_RELATIVE_KEY = re.compile(r"[A-Za-z_][\w.\[\]-]*: ")


def _field_value(f: dataclasses.Field, tp: Any, value: Any, path: str, problems: list[str]) -> Any:
    before = len(problems)
    result = _coerce(tp, value, path, problems, f.metadata.get("nonfinite", False))
    if len(problems) == before and isinstance(result, (int, float)) and not isinstance(result, bool):
        for check, bound in f.metadata.items():
            if check in RANGE_CHECKS and not RANGE_CHECKS[check][0](result, bound):
                problems.append(f"{path}: must be {RANGE_CHECKS[check][1]} {bound}, got {value!r}")
                return _INVALID
    return result


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _coerce(tp: Any, value: Any, path: str, problems: list[str], nonfinite: bool = False) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        first: list[str] = []
        for arg in (a for a in args if a is not type(None)):
            attempt: list[str] = []
            result = _coerce(arg, value, path, attempt, nonfinite)
            if not attempt:
                return result
            first = first or attempt
        problems.extend(first or [f"{path}: invalid value"])
        return _INVALID
    if origin is typing.Literal:
        if value not in args:
            problems.append(f"{path}: must be one of {', '.join(map(repr, args))}, got {value!r}")
            return _INVALID
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path, problems)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return _INVALID
        item = args[0] if args else Any
        items = [_coerce(item, v, f"{path}[{i}]", problems, nonfinite) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return _INVALID
        vt = args[1] if len(args) == 2 else Any
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                problems.append(f"{_join(path, str(k))}: keys must be strings, got {type(k).__name__}")
            else:
                out[k] = _coerce(vt, v, _join(path, k), problems, nonfinite)
        return out
    try:
        return _scalar(tp, value, path, nonfinite)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return _INVALID


def _scalar(tp: Any, value: Any, path: str, nonfinite: bool = False) -> Any:
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{path}: expected true/false, got {value!r}")
    if tp is int:
        return _integer(value, path)
    if tp is float:
        return _float(value, path, nonfinite)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{path}: expected a string, got {type(value).__name__}")
        return str(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{path}: expected {tp.__name__}, got {type(value).__name__}")
    return value


def _integer(value: Any, path: str) -> int:
    """An int, or a float/string that is exactly one (``4.0``, ``"4"`` from an env variable); never inf or nan."""
    if not isinstance(value, bool):
        try:
            number = float(value) if isinstance(value, float) else int(value)
            if number == int(number):
                return int(number)
        except (TypeError, ValueError, OverflowError):
            pass
    raise ConfigError(f"{path}: expected an integer, got {value!r}")


def _float(value: Any, path: str, nonfinite: bool) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: expected a number, got {_short(value)}") from None
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not (nonfinite or math.isfinite(number)):
        raise ConfigError(f"{path}: expected a finite number, got {_short(value)}")
    return number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
