"""The anomaly records the engine writes keep the record contract (detectors.contract) that alerting relies on."""
from __future__ import annotations

import typing

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.contract import RECORD_KINDS, SEVERITIES, STATUSES, AnomalyRecord
from inferwatch.detectors.engine import DetectionEngine
from inferwatch.detectors.incidents import parse_incident
from inferwatch.detectors.registry import emitted_signals
from inferwatch.streams.simulate import START_NS, generate


def test_every_emitted_kind_is_a_contract_kind():
    settings = DetectorSettings()
    assert {kind for kind, _ in emitted_signals(settings)} <= set(RECORD_KINDS)


def test_records_of_a_simulated_incident_have_the_contract_fields():
    incidents = [parse_incident(spec) for spec in ("error_burst@30m+10m", "latency_spike@45m+10m")]
    engine = DetectionEngine(DetectorSettings())
    records = [r for event in generate(2, START_NS, 3600, 3, incidents) for r in engine.process(event)]
    assert {r["signal"] for r in records} >= {"error.rate", "gen_ai.client.operation.duration"}
    hints = typing.get_type_hints(AnomalyRecord)
    for record in records:
        assert AnomalyRecord.__required_keys__ <= record.keys() <= set(hints), record.keys() ^ set(hints)
        assert record["severity"] in SEVERITIES and record["status"] in STATUSES
        assert record["kind"] in RECORD_KINDS
