"""The one configuration object of inferwatch, loaded once from a YAML file plus environment overrides.

Why one object: every process (worker, replay, CLI) must agree on topic names, series keys and policies, and a
typo in a YAML key must fail loudly at start-up with the key's full path instead of silently using a default.

Each package owns the dataclass of its own section (``detectors.config.DetectorSettings``,
``alerting.config.AlertingSettings``), plain standard-library dataclasses that import no validation library; this
module composes them and has pydantic v2 validate the file against them (types, ranges declared in field metadata,
unknown keys, the classes' own ``__post_init__`` checks), then words every error found as ``a.b[0].c: message``.
Why pydantic over the dataclasses rather than pydantic models: the rest of the code builds and ``replace``-s settings
freely and pays nothing for it; only loading a file validates (docs/configuration.md, Validation, has the numbers).

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
import os
import re
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError

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


#: How pydantic reads every settings dataclass (it applies to the nested ones too): unknown keys are errors; every
#: float must be finite; a number where text is expected is that text (a numeric password or channel ID in YAML).
#: Ranges are field metadata pydantic reads: ``field(default=15.0, metadata={"gt": 0})`` (``gt``, ``ge``, ``lt``,
#: ``le``).
VALIDATION = ConfigDict(extra="forbid", allow_inf_nan=False, coerce_numbers_to_str=True)


def from_mapping(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from ``data``, strictly: unknown keys, wrong types and values out of range raise one
    ConfigError that lists every problem, each starting with its dotted key path (``path`` is where ``data`` sits)."""
    try:
        return _adapter(cls).validate_python({path: data})[path]
    except ValidationError as exc:
        raise ConfigError([_problem(cls, error) for error in exc.errors(include_url=False)]) from None


@cache
def _adapter(cls: type) -> TypeAdapter:
    """A validator of ``{path: section}``: the wrapping mapping puts the section's path at the head of every error's
    location, and carries ``VALIDATION`` (pydantic takes a config for a container, not for a dataclass itself)."""
    return TypeAdapter(dict[str, cls], config=VALIDATION)


#: pydantic's error type of each range check: the check's name in field metadata and its sign
_BOUNDS = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="),
           "less_than": ("lt", "<"), "less_than_equal": ("le", "<=")}
#: our words for pydantic's error types; a type not listed keeps pydantic's own message (still after its key path)
_MESSAGES: dict[str, Callable[[Any], str]] = {
    "missing": lambda value: "required",
    "dataclass_type": lambda value: f"expected a mapping, got {type(value).__name__}",
    "dict_type": lambda value: f"expected a mapping, got {type(value).__name__}",
    "list_type": lambda value: f"expected a list, got {type(value).__name__}",
    "string_type": lambda value: f"expected a string, got {type(value).__name__}",
    "bool_type": lambda value: f"expected true/false, got {_short(value)}",
    "bool_parsing": lambda value: f"expected true/false, got {_short(value)}",
    "int_type": lambda value: f"expected an integer, got {_short(value)}",
    "int_parsing": lambda value: f"expected an integer, got {_short(value)}",
    "int_from_float": lambda value: f"expected an integer, got {_short(value)}",
    "float_type": lambda value: f"expected a number, got {_short(value)}",
    "float_parsing": lambda value: f"expected a number, got {_short(value)}",
    "finite_number": lambda value: f"expected a finite number, got {_short(value)}",
}


def _problem(cls: type, error: Mapping[str, Any]) -> str:
    """One pydantic error as ``a.b[0].c: message``, in words that say what was expected and what came."""
    path, *loc = error["loc"]
    value, kind, ctx = error["input"], error["type"], error.get("ctx", {})
    if loc[-1:] == ["[key]"]:  # a map key that is not a string: pydantic locates it as [..., key, "[key]"]
        loc, kind = [*loc[:-2], value], "invalid_key"
    if kind == "invalid_key":  # the input is the key (its location is only its text)
        return f"{_join(_path(path, loc[:-1]), str(value))}: keys must be strings, got {type(value).__name__}"
    where = _path(path, loc) or "<root>"
    if kind == "value_error":  # the class's own cross-field checks (__post_init__)
        return _under(where, str(ctx["error"]))
    if kind in _BOUNDS:
        check, sign = _BOUNDS[kind]
        return f"{where}: must be {sign} {_number(ctx[check])}, got {value!r}"
    if kind == "literal_error":
        return f"{where}: must be one of {ctx['expected']}, got {_short(value)}"
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        fields = [f.name for f in dataclasses.fields(_type_at(cls, loc[:-1])) if f.init]
        return f"{where}: unknown key ({_suggest(str(loc[-1]), fields)})"
    if kind == "finite_number" and _type_at(cls, loc) is int:
        kind = "int_type"  # inf or nan where a count is expected
    elif kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
        kind = "finite_number"  # an integer too large for a float
    return f"{where}: {_MESSAGES[kind](value) if kind in _MESSAGES else error['msg']}"


def _path(path: str, loc: list[Any]) -> str:
    """``alerting`` + ``["routes", 0, "match"]`` -> ``alerting.routes[0].match``."""
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    return path


def _type_at(cls: type, loc: list[Any]) -> Any:
    """The declared type of the value at ``loc`` under dataclass ``cls`` (through list items and map values)."""
    tp = cls
    for part in loc:
        tp = typing.get_type_hints(tp)[part] if dataclasses.is_dataclass(tp) else typing.get_args(tp)[-1]
    return tp


def _suggest(key: str, fields: list[str]) -> str:
    close = difflib.get_close_matches(key, fields, n=1)
    return f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(fields))}"


def _under(path: str, message: str) -> str:
    """Prefix a section's own error with the section's path; a message starting with a relative key joins it."""
    if path != "<root>" and _RELATIVE_KEY.match(message):
        return f"{path}.{message}"
    return f"{path}: {message}"


_RELATIVE_KEY = re.compile(r"[A-Za-z_][\w.\[\]-]*: ")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _number(bound: float) -> str:
    """A bound as declared: ``0`` rather than the ``0.0`` pydantic reports for a float field."""
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
