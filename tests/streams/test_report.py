"""``inferwatch replay --report``: a simulated stream with one injected incident gives a self-contained HTML report
with the fired series plotted (band, anomalies, the incident's span), the episodes, counts per detector, and the
incident scored."""
from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace

import orjson
import pytest

from inferwatch.detectors.incidents import parse_incident, write_manifest
from inferwatch.streams.config import load_settings
from inferwatch.streams.replay import replay, run
from inferwatch.streams.simulate import START_NS, generate


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    incident = parse_incident("latency_spike@80m+5m:service.name=support-bot,gen_ai.request.model=gpt-4o")
    events = tmp / "events.jsonl"
    with events.open("wb") as fh:
        for event in generate(seed=5, start_ns=START_NS, duration_s=6000, rate_per_s=3, incidents=[incident]):
            fh.write(orjson.dumps(event) + b"\n")
    write_manifest(tmp / "manifest.json", [incident], START_NS, 6000, 5)
    report = tmp / "report.html"
    args = SimpleNamespace(events=str(events), flush=True, quiet=True, report=str(report),
                           manifest=str(tmp / "manifest.json"))
    assert run(args, load_settings(env={})) == 0
    out = io.BytesIO()
    with events.open("rb") as fh:
        replay(fh, load_settings(env={}), out, flush=True)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    return report.read_text(), records


def test_the_report_opens_without_a_network(backtest):
    html, _ = backtest
    assert "<script" not in html and not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html


def test_each_series_that_fired_is_plotted_with_its_band_and_anomalies_and_the_incident(backtest):
    html, records = backtest
    fired = {(r["signal"], json.dumps(sorted(r["labels"].items()))) for r in records if r["status"] == "firing"}
    assert fired, "the injected latency spike fired nothing"
    plots = html.split("<section>")[1:]
    assert len(plots) == len(fired)
    latency = next(p for p in plots if p.startswith("<h3>gen_ai.client.operation.duration"))
    assert 'class="band"' in latency and 'class="anomaly"' in latency and 'class="incident"' in latency
    assert latency.count("<polyline") >= 2  # value and expected


def test_the_incident_is_scored_and_every_episode_and_detector_is_listed(backtest):
    html, records = backtest
    assert "1 of 1 detected" in html and "<td>latency_spike</td>" in html and ">MISSED<" not in html
    episodes = {(r["fingerprint"], r["episode_started_unix_nano"]) for r in records}
    table = html.split("<h2>Episodes</h2>")[1]
    assert table.count("<tr>") - 1 == len(episodes)
    for detector in {r["detector"] for r in records}:
        assert f"<td>{detector}</td>" in html.split("<h2>Counts per detector</h2>")[1]

