"""One validated configuration object: YAML + env overrides, errors that name the bad key."""
from __future__ import annotations

import pytest

from streams.config import ENV_OVERRIDES, ConfigError, load_settings


def write(tmp_path, text: str):
    path = tmp_path / "inferwatch.yaml"
    path.write_text(text)
    return path


def test_defaults_match_the_documented_endpoints():
    settings = load_settings(env={})
    assert settings.kafka.bootstrap == "localhost:9092"
    assert settings.redis.url == "redis://localhost:6379/0"
    assert settings.kafka.telemetry_topic == "llm.telemetry.v1"
    assert settings.kafka.anomalies_topic == "inferwatch.anomalies.v1"
    assert settings.kafka.dlq_topic == "inferwatch.telemetry.dlq"


def test_yaml_file_then_env_override(tmp_path):
    path = write(tmp_path, "kafka:\n  bootstrap: broker:9092\n  partitions: 12\nredis:\n  url: redis://r:6379/1\n")
    settings = load_settings(path, env={"INFERWATCH_REDIS_URL": "redis://env:6379/2"})
    assert settings.kafka.bootstrap == "broker:9092" and settings.kafka.partitions == 12
    assert settings.redis.url == "redis://env:6379/2", "env wins over the file"


def test_config_file_from_environment(tmp_path):
    path = write(tmp_path, "kafka:\n  group_id: team-a\n")
    assert load_settings(env={"INFERWATCH_CONFIG": str(path)}).kafka.group_id == "team-a"


@pytest.mark.parametrize("text,message", [
    ("kafka:\n  bootstrapp: x\n", "kafka.bootstrapp: unknown key"),
    ("kafka:\n  partitions: many\n", "kafka.partitions: expected an integer"),
    ("redis: 5\n", "redis: expected a mapping"),
    ("nonsense: {}\n", "nonsense: unknown key"),
    ("state:\n  checkpoint_interval_s: [1]\n", "state.checkpoint_interval_s: expected a number"),
])
def test_errors_name_the_bad_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env={})
    assert message in str(err.value)


def test_unreadable_yaml_names_the_file(tmp_path):
    path = write(tmp_path, "kafka: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(path, env={})


def test_every_env_override_targets_a_real_key():
    for var, dotted in ENV_OVERRIDES.items():
        value = "1" if dotted.endswith(("port", "partitions")) else "x"
        load_settings(env={var: value})  # raises ConfigError if the dotted key does not exist
