"""``inferwatch slo`` reads the SLO series a worker checkpointed to the real Redis: burn rates and budget left."""
from __future__ import annotations

import json

import pytest

from inferwatch.detectors.engine import DetectionEngine
from inferwatch.streams.checkpoints import checkpoint_store
from inferwatch.streams.cli import main
from inferwatch.streams.config import settings_from_mapping
from tests.detectors.test_slo import calls

pytestmark = pytest.mark.redis


@pytest.fixture
def settings(redis_url, redis_client):
    return settings_from_mapping({
        "redis": {"url": redis_url},
        "state": {"signing_key": "k" * 32},
        "detectors": {"enabled": ["latency"], "slos": [
            {"name": "chat-8s", "indicator": "latency", "threshold": 8.0, "objective": 0.99,
             "selector": {"service.name": "chat"}},
            {"name": "idle", "indicator": "errors", "selector": {"service.name": "search"}},
        ]},
    })



def test_slo_lists_burn_rates_and_budget_of_the_checkpointed_series(settings, tmp_path, capsys, monkeypatch):
    engine = DetectionEngine(settings.detectors, checkpoint_store(settings))
    for event in calls(5400, 5, bad_from=3600, slow_share=0.5):
        engine.process(event)
    assert engine.checkpoint() > 0
    monkeypatch.setattr("inferwatch.streams.cli.load_settings", lambda path=None: settings)
    assert main(["slo", "-o", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["slo"], r["labels"], r["firing"]) for r in rows] == [("chat-8s", {"service.name": "chat"}, True)]
    assert rows[0]["burn"]["5m"] > 14.4 and rows[0]["burn"]["1h"] > 14.4  # the fast pair both over its threshold
    assert rows[0]["error_budget_left"] < 0  # half of the calls slow for 30 min: a 1 % budget is overspent
    assert main(["slo"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].startswith("chat-8s") and table[1].rstrip().endswith("yes")
    assert table[2].split()[:2] == ["idle", "(no"]  # declared, no matching series yet


def test_slo_names_an_unknown_slo(settings, capsys, monkeypatch):
    monkeypatch.setattr("inferwatch.streams.cli.load_settings", lambda path=None: settings)
    assert main(["slo", "nope"]) == 2
    assert "no SLO named 'nope' (declared: chat-8s, idle)" in capsys.readouterr().err
