"""Routing and inhibition: which policy an alert follows, and which other alert mutes it. Both are label matchers.

>>> from inferwatch.alerting.config import AlertingSettings, RouteSettings, PolicySettings, LevelSettings
>>> s = AlertingSettings(policies={"default": PolicySettings([LevelSettings(["slack"])]),
...                                "urgent": PolicySettings([LevelSettings(["pagerduty"])])},
...                      routes=[RouteSettings(match={"severity": "critical"}, policy="urgent")])
>>> router = Router(s)
>>> router.policy_for({"severity": "critical"}), router.policy_for({"severity": "warning"})
('urgent', 'default')
>>> router.policy_for({"severity": "warning"}, runbook_policy="urgent")
'urgent'
"""
from __future__ import annotations

from typing import Iterable, Mapping

from inferwatch.alerting.alert import Alert
from inferwatch.alerting.config import AlertingSettings
from inferwatch.alerting.matchers import matches, parse_matchers


class Router:
    """First matching route wins; else the runbook's escalation policy (if it names a known one); else the default."""

    def __init__(self, settings: AlertingSettings) -> None:
        self.routes = [(parse_matchers(r.match), r.policy) for r in settings.routes]
        self.policies = settings.policies
        self.default = settings.default_policy

    def policy_for(self, labels: Mapping[str, object], runbook_policy: str | None = None) -> str:
        for matchers, policy in self.routes:
            if matches(matchers, labels):
                return policy
        if runbook_policy and runbook_policy in self.policies:
            return runbook_policy
        return self.default


class Inhibitor:
    """A firing or acknowledged alert matching a rule's source mutes alerts matching its target on the same series."""

    def __init__(self, settings: AlertingSettings) -> None:
        self.rules = [(parse_matchers(r.source_match), parse_matchers(r.target_match), tuple(r.equal))
                      for r in settings.inhibit]

    def inhibited_by(self, alert: Alert, others: Iterable[Alert]) -> str | None:
        """Fingerprint of the alert that mutes ``alert``, or None."""
        labels = alert.labels
        candidates = [o for o in others if o.fingerprint != alert.fingerprint and o.state in ("firing", "acknowledged")]
        for source, target, equal in self.rules:
            if not matches(target, labels):
                continue
            for other in candidates:
                if matches(source, other.labels) and _same_series(alert, other, equal):
                    return other.fingerprint
        return None


def _same_series(a: Alert, b: Alert, equal: tuple[str, ...]) -> bool:
    if not equal:
        return a.series == b.series
    return all(str(a.labels.get(k, "")) == str(b.labels.get(k, "")) for k in equal)
