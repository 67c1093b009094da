"""``inferwatch replay --report``: a simulated stream with two injected incidents gives a self-contained HTML report
with the fired series plotted (band, anomalies, the incident's span), the episodes, counts per detector, and the
incidents scored."""
from __future__ import annotations

import contextlib
import io
import json
import re
from types import SimpleNamespace

import orjson
import pytest

from inferwatch.detectors.incidents import parse_incident, write_manifest
from inferwatch.streams.config import load_settings
from inferwatch.streams.replay import run
from inferwatch.streams.simulate import START_NS, generate

#: an hour at 3 calls/s: 40 minutes to learn, then a latency spike and an error burst on two series, which two
#: detectors (adaptive threshold, rare rate) page
SEED, DURATION_S, RATE = 5, 3600, 3
INCIDENTS = ("latency_spike@40m+5m:service.name=support-bot,gen_ai.request.model=gpt-4o",
             "error_burst@40m+5m:service.name=search-summarizer,gen_ai.request.model=gpt-4o-mini")


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    """The report and the records of one ``replay --report --flush`` run (its stdout)."""
    tmp = tmp_path_factory.mktemp("report")
    incidents = [parse_incident(spec) for spec in INCIDENTS]
    events = tmp / "events.jsonl"
    with events.open("wb") as fh:
        for event in generate(seed=SEED, start_ns=START_NS, duration_s=DURATION_S, rate_per_s=RATE,
                              incidents=incidents):
            fh.write(orjson.dumps(event) + b"\n")
    write_manifest(tmp / "manifest.json", incidents, START_NS, DURATION_S, SEED)
    report = tmp / "report.html"
    args = SimpleNamespace(events=str(events), flush=True, quiet=True, report=str(report),
                           manifest=str(tmp / "manifest.json"))
    stdout = io.TextIOWrapper(io.BytesIO())
    with contextlib.redirect_stdout(stdout):
        assert run(args, load_settings(env={})) == 0
    records = [json.loads(line) for line in stdout.buffer.getvalue().splitlines()]
    return report.read_text(), records


def test_the_report_opens_without_a_network(backtest):
    html, _ = backtest
    assert "<script" not in html and not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html


def test_each_series_that_fired_is_plotted_with_its_band_and_anomalies_and_the_incident(backtest):
    html, records = backtest
    fired = {(r["signal"], json.dumps(sorted(r["labels"].items()))) for r in records if r["status"] == "firing"}
    assert fired, "the injected incidents fired nothing"
    plots = html.split("<section>")[1:]
    assert len(plots) == len(fired)
    latency = next(p for p in plots if p.startswith("<h3>gen_ai.client.operation.duration"))
    assert 'class="band"' in latency and 'class="anomaly"' in latency and 'class="incident"' in latency
    assert latency.count("<polyline") >= 2  # value and expected


def test_the_incidents_are_scored_and_every_episode_and_detector_is_listed(backtest):
    html, records = backtest
    assert "2 of 2 detected" in html and ">MISSED<" not in html
    assert "<td>latency_spike</td>" in html and "<td>error_burst</td>" in html
    episodes = {(r["fingerprint"], r["episode_started_unix_nano"]) for r in records}
    table = html.split("<h2>Episodes</h2>")[1]
    assert table.count("<tr>") - 1 == len(episodes)
    for detector in {r["detector"] for r in records}:
        assert f"<td>{detector}</td>" in html.split("<h2>Counts per detector</h2>")[1]

