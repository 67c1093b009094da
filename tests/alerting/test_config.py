"""The ``alerting:`` config section: env overrides for secrets/endpoints, strict validation naming the field."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from inferwatch.streams.config import ConfigError, load_settings, settings_from_mapping

DOC = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"


def test_secrets_and_endpoints_come_from_the_environment():
    s = load_settings(env={"SLACK_BOT_TOKEN": "xoxb-1", "INFERWATCH_SLACK_API_URL": "http://127.0.0.1:9/api/",
                           "PAGERDUTY_ROUTING_KEY": "rk", "SLACK_SIGNING_SECRET": "sig",
                           "INFERWATCH_PAGERDUTY_EVENTS_URL": "https://events.eu.pagerduty.com"}).alerting
    assert (s.slack.token, s.slack.api_url, s.slack.signing_secret) == ("xoxb-1", "http://127.0.0.1:9/api/", "sig")
    assert (s.pagerduty.routing_key, s.pagerduty.events_url) == ("rk", "https://events.eu.pagerduty.com")


def test_the_documented_routing_example_loads():
    s = settings_from_mapping({"alerting": {
        "targets": {"team-slack": {"type": "slack", "channel": "C0123"},
                    "oncall": {"type": "pagerduty"},
                    "payments-oncall": {"type": "pagerduty", "routing_key": "k2"}},
        "policies": {"default": {"levels": [{"targets": ["team-slack"], "timeout_s": 600}, {"targets": ["oncall"]}]},
                     "payments": {"levels": [{"targets": ["team-slack", "payments-oncall"]}], "repeat": True}},
        "routes": [{"match": {"service.name": "payments", "severity": "critical"}, "policy": "payments"}],
        "grouping": {"by": ["service.name", "gen_ai.request.model"], "window_s": 300},
    }}).alerting
    assert s.routes[0].policy == "payments" and s.policies["payments"].repeat
    assert (s.grouping.by, s.grouping.window_s) == (["service.name", "gen_ai.request.model"], 300)


def test_the_routing_example_of_the_alerting_page_loads():
    [example] = [b for b in re.findall(r"```yaml\n(alerting:.*?)```", DOC.read_text(), re.S) if "routes:" in b]
    s = settings_from_mapping(yaml.safe_load(example)).alerting
    assert s.targets["leads-slack"].user_group == "S0LEADS1"
    assert (s.grouping.by, s.grouping.window_s) == (["service.name"], 600)


@pytest.mark.parametrize("section, message", [
    ({"ack_expiry": 5}, "alerting.ack_expiry: unknown key"),
    ({"targets": {"x": {"type": "fax"}}}, "alerting.targets.x.type: must be one of"),
    ({"policies": {"default": {"levels": [{"targets": ["nope"]}]}}},
     "policies.default.levels[0].targets: unknown target 'nope'"),
    ({"routes": [{"match": {"kind": "rate"}, "policy": "urgent"}]}, "routes[0].policy: unknown policy 'urgent'"),
    ({"routes": [{"match": {"kind": "=~("}, "policy": "default"}]}, "routes[0].match.kind: invalid regular expr"),
    ({"policies": {"default": {"levels": []}}}, "policies.default.levels: a policy needs at least one level"),
    ({"retry": {"max_attempts": "many"}}, "alerting.retry.max_attempts: expected an integer"),
    ({"targets": {"leads": {"type": "slack", "channel": "C1", "user_group": "@leads"}}},
     "targets.leads.user_group: expected a Slack user group ID like S0123ABCD, got '@leads'"),
    ({"targets": {"leads": {"type": "slack", "channel": "C1", "user_group": "S0A> <!channel"}}},
     "targets.leads.user_group: expected a Slack user group ID"),
    ({"targets": {"pd": {"type": "pagerduty", "user_group": "S0LEADS"}}},
     "targets.pd.user_group: only a slack target can mention a user group"),
    ({"grouping": {"by": []}}, "grouping.by: name at least one label"),
    ({"grouping": {"window_s": -1}}, "alerting.grouping.window_s: must be >= 0, got -1"),
    ({"grouping": {"max_wait_s": -1}}, "alerting.grouping.max_wait_s: must be >= 0, got -1"),
    ({"grouping": {"window": 60}}, "alerting.grouping.window: unknown key"),
    ({"retry": {"max_attempts": 0}}, "alerting.retry.max_attempts: must be >= 1, got 0"),
    ({"retry": {"backoff_base_s": 0}}, "alerting.retry.backoff_base_s: must be > 0, got 0"),
    ({"retry": {"lease_s": 5}}, "alerting.retry.lease_s: must exceed the HTTP timeouts"),
    ({"slack": {"timeout_s": 120}}, "alerting.retry.lease_s: must exceed the HTTP timeouts"),
    ({"flapping": {"threshold": 0}}, "alerting.flapping.threshold: must be >= 1, got 0"),
    ({"audit_max": 0}, "alerting.audit_max: must be >= 1, got 0"),
    ({"ack_expiry_s": 0}, "alerting.ack_expiry_s: must be > 0, got 0"),
    ({"recheck_s": "nan"}, "alerting.recheck_s: expected a finite number, got 'nan'"),
    ({"slack": {"actions_port": -1}}, "alerting.slack.actions_port: must be >= 0, got -1"),
    ({"policies": {"default": {"levels": [{"targets": ["slack"], "timeout_s": float("inf")}]}}},
     "alerting.policies.default.levels[0].timeout_s: expected a finite number, got inf"),
    ({"runbook_base_url": "github.com/acme/runbooks"}, "runbook_base_url: expected an http(s) URL or empty"),
])
def test_bad_config_fails_naming_the_field(section, message):
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"alerting": section})
    assert message in str(err.value)


def test_secrets_do_not_appear_in_config_errors():
    with pytest.raises(ConfigError) as err:
        load_settings(env={"SLACK_BOT_TOKEN": "xoxb-very-secret", "PAGERDUTY_ROUTING_KEY": "rk-secret",
                           "INFERWATCH_KAFKA_BOOTSTRAP": ""}, path="/nonexistent.yaml")
    assert "xoxb-very-secret" not in str(err.value) and "rk-secret" not in str(err.value)
