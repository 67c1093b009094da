"""One validated configuration object: YAML + env overrides, errors that name the bad key."""
from __future__ import annotations

import pytest

from streams.config import ENV_OVERRIDES, ConfigError, load_settings, settings_from_mapping


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


# --- ranges and clean errors (issue 8, defect 11) ----------------------------------------------------------------

@pytest.mark.parametrize("text,message", [
    ("detectors:\n  bucket_s: 0\n", "detectors.bucket_s: must be > 0, got 0"),
    ("detectors:\n  bucket_s: .nan\n", "detectors.bucket_s: expected a finite number, got nan"),
    ("detectors:\n  bucket_s: -.inf\n", "detectors.bucket_s: expected a finite number, got -inf"),
    ("kafka:\n  max_message_bytes: -1\n", "kafka.max_message_bytes: must be > 0, got -1"),
    ("kafka:\n  partitions: .inf\n", "kafka.partitions: expected an integer, got inf"),
    ("kafka:\n  partitions: 0\n", "kafka.partitions: must be >= 1, got 0"),
    ("state:\n  checkpoint_interval_s: -5\n", "state.checkpoint_interval_s: must be > 0, got -5"),
    ("alerting:\n  slack:\n    timeout_s: -1\n", "alerting.slack.timeout_s: must be > 0, got -1"),
    ("alerting:\n  pagerduty:\n    timeout_s: .inf\n", "alerting.pagerduty.timeout_s: expected a finite number"),
    ("alerting:\n  resolve_quiet_s: -600\n", "alerting.resolve_quiet_s: must be > 0, got -600"),
    ("alerting:\n  policies:\n    default:\n      levels: [{targets: [slack], timeout_s: -1}]\n",
     "alerting.policies.default.levels[0].timeout_s: must be >= 0, got -1"),
    ("alerting:\n  slack:\n    actions_port: 70000\n", "alerting.slack.actions_port: must be <= 65535, got 70000"),
    ("detectors:\n  episode:\n    fire_score: 7\n", "detectors.episode.fire_score: must be <= 1, got 7"),
    ("detectors:\n  episode:\n    confirm_buckets: 0\n", "detectors.episode.confirm_buckets: must be >= 1, got 0"),
    ("detectors:\n  baseline:\n    half_life_buckets: 0\n", "detectors.baseline.half_life_buckets: must be > 0"),
    ("detectors:\n  rate:\n    prior_rate: 1.5\n", "detectors.rate.prior_rate: must be < 1, got 1.5"),
    ("kafka:\n  1: x\n", "kafka.1: keys must be strings, got int"),
    ("alerting:\n  routes: [{match: {true: x}, policy: default}]\n",
     "alerting.routes[0].match.True: keys must be strings, got bool"),
    ("null: 1\n", "None: keys must be strings, got NoneType"),
    ("kafka:\n  partitions: 1e999999\n", "kafka.partitions: expected an integer"),
    ("detectors:\n  bucket_s: 1" + "0" * 400 + "\n", "detectors.bucket_s: expected a finite number"),
    ("alerting:\n  routes: [{policy: default}]\n", "alerting.routes[0].match: required"),
])
def test_bad_values_give_one_clean_error_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env={})
    assert err.value.problems == [err.value.problems[0]], "one bad value, one problem"
    assert message in str(err.value)


def test_every_problem_is_reported_at_once(tmp_path):
    text = ("kafka:\n  partitions: .inf\n  max_message_bytes: -1\n  bootstrapp: x\n"
            "detectors:\n  bucket_s: 0\n  episode: {fire_score: 7, clear_score: .nan}\n"
            "alerting:\n  slack: {timeout_s: -1}\n  retry: {max_attempts: many}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env={})
    keys = [problem.split(":")[0] for problem in err.value.problems]
    assert keys == ["kafka.partitions", "kafka.max_message_bytes", "kafka.bootstrapp", "detectors.bucket_s",
                    "detectors.episode.fire_score", "detectors.episode.clear_score", "alerting.slack.timeout_s",
                    "alerting.retry.max_attempts"]
    assert str(err.value).startswith("8 problems:\n")
    assert all(f"\n  {problem}" in str(err.value) for problem in err.value.problems)


def test_a_cross_field_check_is_reported_with_the_section_path():
    with pytest.raises(ConfigError, match=r"^alerting\.routes\[0\]\.policy: unknown policy 'nope'"):
        settings_from_mapping({"alerting": {"routes": [{"match": {}, "policy": "nope"}]}})


def test_a_non_utf8_file_is_a_clean_error_naming_the_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("kafka:\n  group_id: équipe\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"^{path}: not UTF-8 text"):
        load_settings(path, env={})


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_a_file_that_is_not_a_mapping_is_a_clean_error(tmp_path, text):
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(write(tmp_path, text), env={})


def test_an_env_override_under_a_malformed_section_reports_the_section(tmp_path):
    with pytest.raises(ConfigError, match="^alerting: expected a mapping, got str"):
        load_settings(write(tmp_path, "alerting: oops\n"), env={"SLACK_BOT_TOKEN": "xoxb-1"})


def test_edges_of_the_ranges_are_accepted():
    s = settings_from_mapping({"kafka": {"partitions": 1, "max_message_bytes": 1},
                               "detectors": {"episode": {"fire_score": 1.0}, "negative_feedback_at_most": -1},
                               "alerting": {"group_wait_s": 0, "grouping": {"window_s": 0}}})
    assert (s.kafka.partitions, s.detectors.episode.fire_score, s.alerting.grouping.window_s) == (1, 1.0, 0)


def test_every_default_is_within_its_declared_range():
    from streams.config import Settings, from_mapping
    assert from_mapping(Settings, config_as_plain(Settings()), "") == Settings()


def config_as_plain(value):
    import dataclasses
    if dataclasses.is_dataclass(value):
        return {f.name: config_as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [config_as_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: config_as_plain(v) for k, v in value.items()}
    return value
