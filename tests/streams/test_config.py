"""One validated configuration object: YAML + env overrides, errors that name the bad key."""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path

import jsonschema
import pytest
import yaml

from inferwatch.streams import cli
from inferwatch.streams.config import ENV_OVERRIDES, ConfigError, Settings, from_mapping, load_settings, \
    settings_from_mapping
from inferwatch.streams.config_schema import JSON_SCHEMA_BOUNDS, as_plain, json_schema, with_reference

ROOT = Path(__file__).resolve().parents[2]
SCHEMA, CONFIG_DOC = ROOT / "docs/config.schema.json", ROOT / "docs/configuration.md"


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
    ("detectors:\n  slos: [{indicator: latency, threshold: 2}]\n", "detectors.slos[0].name: required"),
    ("alerting:\n  targets:\n    x: {type: slack, chanel: C1}\n",
     "alerting.targets.x.chanel: unknown key (did you mean channel?)"),
    ("alerting:\n  targets:\n    x: {type: fax}\n",
     "alerting.targets.x.type: must be one of 'slack', 'pagerduty', 'console', 'email' or 'webhook', got 'fax'"),
    ("detectors:\n  stages: retrieval\n", "detectors.stages: expected a list, got str"),
    ("alerting:\n  email:\n    starttls: maybe\n", "alerting.email.starttls: expected true/false, got 'maybe'"),
    ("kafka:\n  bootstrap: [a, b]\n", "kafka.bootstrap: expected a string, got list"),
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
                    "detectors.episode.fire_score", "detectors.episode.clear_score", "alerting.retry.max_attempts",
                    "alerting.slack.timeout_s"], "in the order the settings declare them, unknown keys last"
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


def test_a_number_where_text_goes_is_that_text(tmp_path):
    """YAML reads an all-digit password or channel ID as a number; the setting is still that text."""
    s = load_settings(write(tmp_path, "kafka:\n  sasl_password: 123456\n  group_id: 42\n"), env={})
    assert (s.kafka.sasl_password, s.kafka.group_id) == ("123456", "42")


def test_edges_of_the_ranges_are_accepted():
    s = settings_from_mapping({"kafka": {"partitions": 1, "max_message_bytes": 1},
                               "detectors": {"episode": {"fire_score": 1.0}, "negative_feedback_at_most": -1},
                               "alerting": {"group_wait_s": 0, "grouping": {"window_s": 0}}})
    assert (s.kafka.partitions, s.detectors.episode.fire_score, s.alerting.grouping.window_s) == (1, 1.0, 0)


def test_every_default_is_within_its_declared_range():
    assert from_mapping(Settings, as_plain(Settings(), redact=False), "") == Settings()


def settings_classes(cls=Settings, seen=None):
    """Every settings dataclass reachable from ``Settings`` (sections, list items, map values)."""
    seen = {} if seen is None else seen
    seen[cls.__name__] = cls
    for hint in typing.get_type_hints(cls).values():
        for tp in (hint, *typing.get_args(hint)):
            if dataclasses.is_dataclass(tp) and tp.__name__ not in seen:
                settings_classes(tp, seen)
    return seen.values()


def test_field_metadata_holds_only_range_checks_the_schema_shows():
    """pydantic reads more field metadata than ranges; only ranges reach docs/config.schema.json."""
    for cls in settings_classes():
        for f in dataclasses.fields(cls):
            assert set(f.metadata) <= set(JSON_SCHEMA_BOUNDS), \
                f"{cls.__name__}.{f.name}: metadata {set(f.metadata) - set(JSON_SCHEMA_BOUNDS)} the schema does not show"
            assert not (f.metadata and typing.get_type_hints(cls)[f.name] not in (int, float)), \
                f"{cls.__name__}.{f.name}: a range on a field that is not a number"


# --- config show / config schema -----------------------------------------------------------------------------------

def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_config_show_prints_file_env_and_defaults_with_secrets_redacted(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "kafka:\n  partitions: 12\ndetectors:\n  bucket_s: 30\n")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    monkeypatch.setenv("INFERWATCH_REDIS_URL", "redis://alice:hunter2@redis:6379/0")
    code, out, _ = run_cli(capsys, "--config", str(path), "config", "show")
    shown = yaml.safe_load(out)
    assert code == 0
    assert (shown["kafka"]["partitions"], shown["detectors"]["bucket_s"]) == (12, 30.0), "from the file"
    assert shown["alerting"]["retry"]["max_attempts"] == 10, "defaults are shown"
    assert shown["alerting"]["slack"]["token"] == "<redacted>" and "xoxb-very-secret" not in out
    assert shown["redis"]["url"] == "redis://alice:<redacted>@redis:6379/0" and "hunter2" not in out
    assert shown["alerting"]["pagerduty"]["routing_key"] == "", "an unset secret shows as empty"


def test_config_show_json_is_the_same_configuration(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("INFERWATCH_CONFIG", raising=False)
    _, out_yaml, _ = run_cli(capsys, "config", "show")
    code, out_json, _ = run_cli(capsys, "config", "show", "-o", "json")
    assert code == 0 and json.loads(out_json) == yaml.safe_load(out_yaml)


def test_an_invalid_config_is_one_clean_report_with_exit_2(tmp_path, capsys):
    path = write(tmp_path, "kafka:\n  partitions: .inf\ndetectors:\n  bucket_s: 0\n  episode: {fire_score: 7}\n")
    code, out, err = run_cli(capsys, "--config", str(path), "config", "show")
    assert code == 2 and out == ""
    assert err.splitlines() == ["inferwatch: error: invalid configuration: 3 problems:",
                                "  kafka.partitions: expected an integer, got inf",
                                "  detectors.bucket_s: must be > 0, got 0",
                                "  detectors.episode.fire_score: must be <= 1, got 7"]


def test_the_committed_schema_and_reference_are_current(tmp_path, capsys):
    stale = "; refresh: inferwatch config schema --out docs/config.schema.json --docs docs/configuration.md"
    assert json.loads(SCHEMA.read_text()) == json_schema(), f"docs/config.schema.json is stale{stale}"
    assert CONFIG_DOC.read_text() == with_reference(CONFIG_DOC.read_text()), f"docs/configuration.md is stale{stale}"
    code, out, _ = run_cli(capsys, "config", "schema")
    assert code == 0 and json.loads(out) == json_schema()


def test_the_reference_lists_every_key_and_every_environment_variable():
    doc = CONFIG_DOC.read_text()
    assert all(f"`{var}`" in doc for var in ENV_OVERRIDES)
    for key in ("kafka.partitions", "detectors.episode.fire_score", "alerting.targets.<name>.type",
                "alerting.policies.<name>.levels[].timeout_s", "detectors.slos[].name"):
        assert f"| `{key}` |" in doc


def config_examples():
    """The YAML blocks of the docs pages that are inferwatch config files (their top-level keys are config sections)."""
    sections = {f.name for f in dataclasses.fields(Settings)}
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and data and set(data) <= sections:
                yield pytest.param(data, id=f"{doc.name}:{'+'.join(data)}")


@pytest.mark.parametrize("example", list(config_examples()))
def test_the_documented_config_examples_load_and_match_the_schema(example):
    settings_from_mapping(example)
    jsonschema.validate(example, json_schema())


def test_the_docs_hold_a_config_example():
    assert any("configuration.md" in p.id for p in config_examples())


@pytest.mark.parametrize("config", [
    {"detectors": {"bucket_s": 0}},
    {"kafka": {"max_message_bytes": -1}},
    {"detectors": {"episode": {"fire_score": 7}}},
    {"alerting": {"slack": {"timeout_s": -1}}},
    {"kafka": {"bootstrapp": "x"}},
    {"alerting": {"targets": {"x": {"channel": "C1"}}}},
])
def test_the_schema_refuses_what_the_loader_refuses(config):
    with pytest.raises(ConfigError):
        settings_from_mapping(config)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, json_schema())
