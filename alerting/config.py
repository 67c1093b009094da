"""Typed settings of the escalation engine (the ``alerting:`` section of the config file).

Routing, policies and targets are data: a route's label matchers pick a policy, a policy is a list of levels, a level
names targets and how long to wait for an acknowledgement before the next level. Cross-references (a policy naming an
unknown target, a route naming an unknown policy, a bad matcher) fail at load time with the field's path.

>>> s = AlertingSettings()
>>> [level.targets for level in s.policies["default"].levels], s.policies["default"].levels[0].timeout_s
([['slack'], ['pagerduty']], 600.0)
>>> AlertingSettings(routes=[RouteSettings(match={"severity": "critical"}, policy="nope")])
Traceback (most recent call last):
...
ValueError: routes[0].policy: unknown policy 'nope' (known: default)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

from inferwatch.alerting.matchers import MatcherError, parse_matchers

#: the public endpoints; EU PagerDuty accounts use https://events.eu.pagerduty.com
SLACK_API_URL = "https://slack.com/api/"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com"
DEFAULT_ACK_TIMEOUT_S = 600.0
DEFAULT_GROUP_WINDOW_S = 600.0
DEFAULT_GROUP_MAX_WAIT_S = 30.0
#: the SMTP submission port (STARTTLS)
SMTP_SUBMISSION_PORT = 587
#: a Slack user group ID (what ``<!subteam^ID>`` mentions); a handle like ``@oncall`` cannot be mentioned by a bot
SLACK_USER_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")


@dataclass(frozen=True)
class SlackSettings:
    #: bot token (xoxb-…); empty means Slack targets fall back to the console/outbox notifier
    token: str = field(default="", repr=False)
    api_url: str = SLACK_API_URL
    #: verifies button clicks arriving at ``inferwatch slack-actions``
    signing_secret: str = field(default="", repr=False)
    timeout_s: float = field(default=10.0, metadata={"gt": 0})
    #: address ``inferwatch slack-actions`` listens on
    actions_host: str = "127.0.0.1"
    actions_port: int = field(default=3000, metadata={"ge": 0, "le": 65535})


@dataclass(frozen=True)
class PagerDutySettings:
    #: Events API v2 integration key used by PagerDuty targets that do not set their own
    routing_key: str = field(default="", repr=False)
    events_url: str = PAGERDUTY_EVENTS_URL
    timeout_s: float = field(default=10.0, metadata={"gt": 0})
    #: extra CA bundle for the Events API (standard SSL_CERT_FILE is honoured too); empty = system store
    ca_file: str = ""


@dataclass(frozen=True)
class EmailSettings:
    """The SMTP server email targets send through: STARTTLS, then AUTH when a username is set (from the environment:
    INFERWATCH_SMTP_USERNAME, INFERWATCH_SMTP_PASSWORD)."""

    #: empty means email targets fall back to the console/outbox notifier
    host: str = ""
    port: int = field(default=SMTP_SUBMISSION_PORT, metadata={"ge": 1, "le": 65535})
    #: refuse to send without STARTTLS (a plain connection would carry the password and the page in clear text)
    starttls: bool = True
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    #: the From address of every page
    sender: str = "inferwatch@localhost"
    timeout_s: float = field(default=10.0, metadata={"gt": 0})
    #: extra CA bundle to verify the SMTP server's certificate; empty = system store
    ca_file: str = ""


@dataclass(frozen=True)
class WebhookSettings:
    timeout_s: float = field(default=10.0, metadata={"gt": 0})
    #: extra CA bundle for https webhook URLs; empty = system store
    ca_file: str = ""


@dataclass(frozen=True)
class TargetSettings:
    """Where one page goes. ``dry_run`` sends it to the console/outbox notifier instead, through the whole pipeline."""

    type: Literal["slack", "pagerduty", "console", "email", "webhook"]
    #: Slack channel ID (C…); an ID, not a name, so a re-send after a crash can find the message it already posted
    channel: str = ""
    #: PagerDuty routing key; empty = ``alerting.pagerduty.routing_key``
    routing_key: str = field(default="", repr=False)
    #: Slack user group ID (S…) mentioned in every page this target gets (not in acknowledge/resolve updates)
    user_group: str = ""
    #: email targets: the recipients
    to: list[str] = field(default_factory=list)
    #: webhook targets: where Alertmanager's webhook JSON is posted (may hold a token: never shown in errors)
    url: str = field(default="", repr=False)
    dry_run: bool = False


@dataclass(frozen=True)
class LevelSettings:
    targets: list[str]
    #: seconds without acknowledgement before the next level is paged
    timeout_s: float = field(default=DEFAULT_ACK_TIMEOUT_S, metadata={"ge": 0})


@dataclass(frozen=True)
class PolicySettings:
    levels: list[LevelSettings]
    #: after the last level's timeout, start again at the first level
    repeat: bool = False


@dataclass(frozen=True)
class RouteSettings:
    """First route whose matchers all match picks the policy (label, kind, signal, severity, detector)."""

    match: dict[str, str]
    policy: str


@dataclass(frozen=True)
class InhibitSettings:
    """An active alert matching ``source_match`` mutes alerts matching ``target_match`` on the same series."""

    source_match: dict[str, str] = field(default_factory=lambda: {"severity": "critical"})
    target_match: dict[str, str] = field(default_factory=lambda: {"severity": "=~warning|info"})
    #: label keys that must be equal; empty = the whole series (all labels) must be equal
    equal: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RetrySettings:
    """Bounded retry of provider calls: whichever of attempts or budget runs out first ends it as a recorded failure."""

    # 10: with the default backoff a 10th attempt would come after 302 s, so the budget is what ends retries
    # (6 gave up after 62 s, and a 2-minute Slack outage lost pages: docs/faults.md)
    max_attempts: int = field(default=10, metadata={"ge": 1})
    budget_s: float = field(default=300.0, metadata={"gt": 0})
    backoff_base_s: float = field(default=2.0, metadata={"gt": 0})
    backoff_max_s: float = field(default=60.0, metadata={"gt": 0})
    #: a claimed send not recorded within this time is re-claimed (the claimer crashed); must exceed HTTP timeouts
    lease_s: float = field(default=60.0, metadata={"gt": 0})


@dataclass(frozen=True)
class FlappingSettings:
    """An alert opened ``threshold`` times within ``window_s`` is held open instead of resolving and paging again."""

    window_s: float = field(default=3600.0, metadata={"gt": 0})
    threshold: int = field(default=3, metadata={"ge": 1})
    #: quiet time after which a held (flapping) alert finally resolves
    hold_quiet_s: float = field(default=1800.0, metadata={"ge": 0})


@dataclass(frozen=True)
class GroupingSettings:
    """Related alerts share one Slack thread: same values of the ``by`` labels, first paged within ``window_s``.

    The first alert of a group is posted to the channel; a related alert whose first page comes while that message is
    younger than ``window_s`` and its alert still unresolved is posted in its thread. ``window_s: 0`` turns it off.
    """

    #: match labels (series labels, kind, signal, severity, detector) whose values make the group; an alert
    #: missing one of them is not grouped
    by: list[str] = field(default_factory=lambda: ["service.name"])
    window_s: float = field(default=DEFAULT_GROUP_WINDOW_S, metadata={"ge": 0})
    #: how long a related alert's page waits for the group's first message to be delivered (it may be in retry
    #: backoff, or held by a crashed engine's lease) before it is posted to the channel on its own
    max_wait_s: float = field(default=DEFAULT_GROUP_MAX_WAIT_S, metadata={"ge": 0})


def _default_targets() -> dict[str, TargetSettings]:
    return {"slack": TargetSettings(type="slack", channel="#inferwatch-alerts"),
            "pagerduty": TargetSettings(type="pagerduty")}


def _default_policies() -> dict[str, PolicySettings]:
    return {"default": PolicySettings(levels=[LevelSettings(targets=["slack"], timeout_s=DEFAULT_ACK_TIMEOUT_S),
                                              LevelSettings(targets=["pagerduty"])])}


@dataclass(frozen=True)
class AlertingSettings:
    #: environment variables that override keys of this section (merged into streams.config.ENV_OVERRIDES)
    ENV_OVERRIDES: ClassVar[dict[str, str]] = {
        "SLACK_BOT_TOKEN": "alerting.slack.token",
        "INFERWATCH_SLACK_API_URL": "alerting.slack.api_url",
        "SLACK_SIGNING_SECRET": "alerting.slack.signing_secret",
        "PAGERDUTY_ROUTING_KEY": "alerting.pagerduty.routing_key",
        "INFERWATCH_PAGERDUTY_EVENTS_URL": "alerting.pagerduty.events_url",
        "INFERWATCH_SMTP_HOST": "alerting.email.host",
        "INFERWATCH_SMTP_USERNAME": "alerting.email.username",
        "INFERWATCH_SMTP_PASSWORD": "alerting.email.password",
    }

    #: where alerts go when no Slack/PagerDuty credentials are set (JSON lines, also printed to stdout)
    outbox_path: str = ".run/outbox.jsonl"
    #: prefix of every Redis key the engine writes
    key_prefix: str = "inferwatch:alerting:"
    #: seconds an alert stays pending before its first page (lets a burst settle); 0 = page on the next tick
    group_wait_s: float = field(default=0.0, metadata={"ge": 0})
    #: an acknowledgement lasts this long; then the alert fires again if it is still active
    ack_expiry_s: float = field(default=3600.0, metadata={"gt": 0})
    #: an alert with no new anomaly record for this long resolves by itself
    resolve_quiet_s: float = field(default=600.0, metadata={"gt": 0})
    #: how often muted (silenced/inhibited) alerts are looked at again
    recheck_s: float = field(default=5.0, metadata={"gt": 0})
    #: audit entries kept per alert
    audit_max: int = field(default=1000, metadata={"ge": 1})
    #: how long a resolved alert (state, audit, delivery records) is kept in Redis
    retention_s: float = field(default=30 * 86400.0, metadata={"gt": 0})
    default_policy: str = "default"
    targets: dict[str, TargetSettings] = field(default_factory=_default_targets)
    policies: dict[str, PolicySettings] = field(default_factory=_default_policies)
    routes: list[RouteSettings] = field(default_factory=list)
    inhibit: list[InhibitSettings] = field(default_factory=lambda: [InhibitSettings()])
    retry: RetrySettings = field(default_factory=RetrySettings)
    flapping: FlappingSettings = field(default_factory=FlappingSettings)
    grouping: GroupingSettings = field(default_factory=GroupingSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    pagerduty: PagerDutySettings = field(default_factory=PagerDutySettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    #: directory of the markdown runbooks attached to alerts; empty = the runbooks shipped with inferwatch
    runbooks_dir: str = ""
    #: runbook links are built from this (e.g. the repository's web view of runbooks/); empty = the runbook's
    #: repository path (``runbooks/latency.md``), shown as text
    runbook_base_url: str = ""
    #: trace ids (exemplars) in pages link here; ``{trace_id}`` is replaced, e.g. ``https://jaeger/trace/{trace_id}``
    #: (Tempo, Langfuse and Phoenix have such URLs too); empty = trace ids shown as text
    trace_url_template: str = ""
    #: the web console (``inferwatch ui``); pages link to the alert there; empty = no link
    console_url: str = ""
    #: label whose value a PagerDuty event names as its ``component`` (``group`` is the service, ``class`` the kind)
    component_label: str = "gen_ai.request.model"

    def __post_init__(self) -> None:
        for name, target in self.targets.items():
            self._check_target(f"targets.{name}", target)
        if not self.grouping.by:
            raise ValueError("grouping.by: name at least one label (window_s: 0 turns grouping off)")
        if self.retry.lease_s <= max(self.slack.timeout_s, self.pagerduty.timeout_s, self.email.timeout_s,
                                     self.webhook.timeout_s):
            raise ValueError(f"retry.lease_s: must exceed the HTTP timeouts (slack, pagerduty, webhook) and email.timeout_s, "
                             f"or a slow send is claimed twice; got {self.retry.lease_s}")
        for name in ("runbook_base_url", "trace_url_template", "console_url"):
            url = getattr(self, name)
            if url and not url.startswith(("https://", "http://")):
                raise ValueError(f"{name}: expected an http(s) URL or empty, got {url!r}")
        if self.trace_url_template and "{trace_id}" not in self.trace_url_template:
            raise ValueError(f"trace_url_template: must contain {{trace_id}}, got {self.trace_url_template!r}")
        for name, policy in self.policies.items():
            if not policy.levels:
                raise ValueError(f"policies.{name}.levels: a policy needs at least one level")
            for i, level in enumerate(policy.levels):
                for target in level.targets:
                    if target not in self.targets:
                        raise ValueError(f"policies.{name}.levels[{i}].targets: unknown target {target!r} "
                                         f"(known: {', '.join(sorted(self.targets))})")
        for i, route in enumerate(self.routes):
            self._check_policy(f"routes[{i}].policy", route.policy)
            self._check_matchers(f"routes[{i}].match", route.match)
        self._check_policy("default_policy", self.default_policy)
        for i, rule in enumerate(self.inhibit):
            self._check_matchers(f"inhibit[{i}].source_match", rule.source_match)
            self._check_matchers(f"inhibit[{i}].target_match", rule.target_match)

    @staticmethod
    def _check_target(path: str, target: TargetSettings) -> None:
        if target.user_group and target.type != "slack":
            raise ValueError(f"{path}.user_group: only a slack target can mention a user group")
        if target.type == "email" and not target.to:
            raise ValueError(f"{path}.to: an email target needs at least one recipient")
        if target.type == "webhook" and not target.url.startswith(("https://", "http://")):
            raise ValueError(f"{path}.url: a webhook target needs an http(s) URL")
        if target.user_group and not SLACK_USER_GROUP_ID.fullmatch(target.user_group):
            raise ValueError(f"{path}.user_group: expected a Slack user group ID like S0123ABCD, "
                             f"got {target.user_group!r}")

    def _check_policy(self, path: str, name: str) -> None:
        if name not in self.policies:
            raise ValueError(f"{path}: unknown policy {name!r} (known: {', '.join(sorted(self.policies))})")

    @staticmethod
    def _check_matchers(path: str, spec: dict[str, str]) -> None:
        try:
            parse_matchers(spec)
        except MatcherError as exc:
            raise ValueError(f"{path}.{exc}") from None


class RedisConnection(Protocol):
    """Where the alert store lives (``streams.config.RedisSettings``)."""

    @property
    def url(self) -> str: ...

    def client_options(self) -> dict[str, str]: ...


class CommandSettings(Protocol):
    """What an alerting command reads of the one validated configuration (``streams.config.Settings``, assembled by
    the composition root; ``alerting`` does not import it)."""

    @property
    def alerting(self) -> AlertingSettings: ...

    @property
    def redis(self) -> RedisConnection: ...
