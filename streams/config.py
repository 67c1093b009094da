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
streams.config.ConfigError: kafka.bootstrapp: unknown key (known: anomalies_topic, bootstrap, ...)
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from alerting.config import AlertingSettings
from detectors.config import DetectorSettings


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; the message starts with its dotted path."""


@dataclass(frozen=True)
class KafkaSettings:
    """Where the telemetry comes from and where anomalies and rejects go."""

    bootstrap: str = "localhost:9092"
    telemetry_topic: str = "llm.telemetry.v1"
    anomalies_topic: str = "inferwatch.anomalies.v1"
    dlq_topic: str = "inferwatch.telemetry.dlq"
    group_id: str = "inferwatch"
    #: partitions created for our topics when they do not exist yet; scale-out is more partitions + more workers
    partitions: int = 4
    #: a message larger than this is rejected to the DLQ as oversized (Kafka's own default limit is ~1 MB)
    max_message_bytes: int = 1_000_000


@dataclass(frozen=True)
class RedisSettings:
    """Redis holds detector checkpoints and the escalation engine's alert state."""

    url: str = "redis://localhost:6379/0"


@dataclass(frozen=True)
class StateSettings:
    """How per-key detector state is checkpointed so a restart or rebalance needs no fresh warm-up."""

    #: seconds between checkpoints of the keys whose state changed
    checkpoint_interval_s: float = 5.0
    #: HMAC key that signs checkpoints, so state read back from Redis is never unpickled unless we wrote it
    signing_key: str = ""
    #: where a random signing key is kept when none is configured (fine for one machine; set the key for several)
    signing_key_file: str = ".run/state.key"


@dataclass(frozen=True)
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    state: StateSettings = field(default_factory=StateSettings)
    detectors: DetectorSettings = field(default_factory=DetectorSettings)
    alerting: AlertingSettings = field(default_factory=AlertingSettings)


#: Every environment variable inferwatch reads, with the config key it overrides. Secrets belong here, not in YAML.
ENV_OVERRIDES: dict[str, str] = {
    "INFERWATCH_KAFKA_BOOTSTRAP": "kafka.bootstrap",
    "INFERWATCH_KAFKA_GROUP": "kafka.group_id",
    "INFERWATCH_REDIS_URL": "redis.url",
    "INFERWATCH_STATE_KEY": "state.signing_key",
    **AlertingSettings.ENV_OVERRIDES,
}
#: The variable naming the YAML file (the ``--config`` flag wins over it).
CONFIG_ENV = "INFERWATCH_CONFIG"


def load_settings(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load the YAML file (``path``, else ``$INFERWATCH_CONFIG``, else defaults) and apply env overrides."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data = loaded
    for var, dotted in ENV_OVERRIDES.items():
        if env.get(var):
            _set_dotted(data, dotted, env[var])
    return settings_from_mapping(data)


def settings_from_mapping(data: Mapping[str, Any]) -> Settings:
    return from_mapping(Settings, data, "")


def _set_dotted(data: dict, dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def from_mapping(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from ``data``, strictly: unknown keys and wrong types raise ConfigError naming the key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or '<root>'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)[:2] + ["..."]) if len(fields) > 2 else ", ".join(sorted(fields))
        raise ConfigError(f"{_join(path, unknown[0])}: unknown key (known: {known})")
    kwargs = {name: _coerce(hints[name], value, _join(path, name)) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{path or '<root>'}: {exc}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{path}: invalid value")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path}: must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, path)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        item = args[0] if args else Any
        items = [_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(vt, v, _join(path, str(k))) for k, v in value.items()}
    return _scalar(tp, value, path)


def _scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{path}: expected true/false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        try:
            number = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: expected {'an integer' if tp is int else 'a number'}, got {value!r}") from None
        if tp is int and isinstance(value, float) and value != number:
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{path}: expected a string, got {type(value).__name__}")
        return str(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{path}: expected {tp.__name__}, got {type(value).__name__}")
    return value
