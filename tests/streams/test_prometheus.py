"""The dashboard against the real thing: a Prometheus server (the Debian ``prometheus`` binary) scrapes an
``inferwatch worker`` fed simulated LLM traffic through the session's Kafka broker, and every query of every panel
and annotation of docs/grafana/inferwatch.json returns data through Prometheus's HTTP API. The alerting rules for
inferwatch itself pass ``promtool check rules`` and their unit tests (``promtool test rules``)."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

import orjson
import pytest
from confluent_kafka import Producer

from inferwatch.streams import simulate
from inferwatch.streams.producer import TelemetryProducer
from inferwatch.streams.topics import ensure_topics
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "prometheus"
DASHBOARD = json.loads((ROOT / "docs" / "grafana" / "inferwatch.json").read_text())
#: what Grafana substitutes for the dashboard's variables, here: every service, and a window that holds the run
VARIABLES = {"$__rate_interval": "5m", "$service": ".*"}
PROMETHEUS_START_TIMEOUT_S = 30
DATA_TIMEOUT_S = 150

needs_prometheus = pytest.mark.skipif(not shutil.which("prometheus") or not shutil.which("promtool"),
                                      reason="the Debian prometheus package is not installed (scripts/install.sh)")


class Prometheus:
    """A Prometheus server on a free port, scraping ``127.0.0.1:<target_port>`` every second as job inferwatch."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.target_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES / "inferwatch-rules.yml")],
            "scrape_configs": [{"job_name": "inferwatch",
                                "static_configs": [{"targets": [f"127.0.0.1:{self.target_port}"]}]}]}))
        self.log = workdir / "prometheus.log"
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + PROMETHEUS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"prometheus did not become ready: {self.log.read_text()[-2000:]}")

    def query(self, expr: str) -> list[dict]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        body = json.loads(urllib.request.urlopen(url, timeout=10).read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path_factory.mktemp("prometheus"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL with the variables substituted) of every panel target and annotation."""
    queries = [(panel["title"], target["expr"]) for panel in DASHBOARD["panels"] for target in panel.get("targets", [])]
    queries += [(f"annotation {a['name']}", a["expr"]) for a in DASHBOARD["annotations"]["list"]]
    out = []
    for title, expr in queries:
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        assert "$" not in expr, f"{title}: a variable the test does not substitute: {expr}"
        out.append((title, expr))
    return out


@needs_prometheus
def test_alerting_rules_are_valid_and_their_unit_tests_pass():
    for args in (["check", "rules", "inferwatch-rules.yml"], ["test", "rules", "inferwatch-rules.test.yml"]):
        result = subprocess.run(["promtool", *args], cwd=RULES, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


@needs_prometheus
def test_every_dashboard_query_returns_data_from_a_real_scrape_of_a_real_worker(settings, workers, prometheus):
    ensure_topics(settings.kafka)
    duration_s = 2400.0  # the two default incidents (latency spike, error burst) fall after the warm-up
    start_ns = time.time_ns() - int(duration_s * 1e9) - 60 * 10**9
    events = list(simulate.generate(3, start_ns, duration_s, 4.0, simulate.default_incidents(duration_s)))
    producer = TelemetryProducer(settings.kafka.bootstrap, settings.kafka.telemetry_topic, batch_size=50)
    for event in events:
        producer.send(event)
    producer.flush()
    raw = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    raw.produce(settings.kafka.telemetry_topic, value=b"{not json", key=b"checkout")
    raw.produce(settings.kafka.telemetry_topic, value=orjson.dumps({"event.id": "x", "service.name": "s"}))
    raw.flush()

    worker = workers("all", "--metrics-port", str(prometheus.target_port))
    pending = dashboard_queries()
    deadline = time.monotonic() + DATA_TIMEOUT_S
    while pending and time.monotonic() < deadline:
        pending = [(title, expr) for title, expr in pending if not prometheus.query(expr)]
        time.sleep(1.0)
    assert not pending, f"panels without data: {pending}\n{worker.log_tail()}"

    up = prometheus.query('up{job="inferwatch"}')
    assert [float(s["value"][1]) for s in up] == [1.0]
    band = {s["metric"]["model"]: float(s["value"][1]) for s in prometheus.query(
        'inferwatch_signal_band_upper{signal="latency"}')}
    expected = {s["metric"]["model"]: float(s["value"][1]) for s in prometheus.query(
        'inferwatch_signal_expected{signal="latency"}')}
    assert band and all(band[m] > expected[m] > 0 for m in band), "the band surrounds the learned baseline"
    sent = sum(e.get("event.kind", "llm_call") == "llm_call" for e in events)
    deadline = time.monotonic() + 60
    while (calls := prometheus.query("sum(inferwatch_llm_request_duration_seconds_count)")) and \
            float(calls[0]["value"][1]) < sent and time.monotonic() < deadline:
        time.sleep(1.0)
    assert float(calls[0]["value"][1]) == sent, "every call is counted, once"
