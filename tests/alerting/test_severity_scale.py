"""The severity scale of the record contract (detectors.contract) is the one the alert store's Lua script applies."""
from __future__ import annotations

import pytest

from inferwatch.detectors.contract import SEVERITIES
from tests.alerting.conftest import T0, anomaly, two_level_settings


@pytest.mark.parametrize("first, then, kept", [
    ("warning", "critical", "critical"),  # a rise is taken
    ("critical", "info", "critical"),  # a fall within the episode is not
    ("info", "warning", "warning"),
])
def test_an_alert_keeps_the_most_severe_severity_of_its_episode(make_service, first, then, kept):
    service = make_service(two_level_settings())
    service.ingest(anomaly(0, severity=first), now=T0)
    service.ingest(anomaly(1, severity=then), now=T0 + 1)
    assert service.store.load("fp-latency-checkout").severity == kept


def test_every_contract_severity_is_accepted_in_order(make_service):
    service = make_service(two_level_settings())
    for i, severity in enumerate(SEVERITIES):
        service.ingest(anomaly(i, severity=severity), now=T0 + i)
        assert service.store.load("fp-latency-checkout").severity == severity
