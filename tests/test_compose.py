"""docker-compose.yml and the Dockerfile agree with the code. There is no Docker engine here, so this is what can be
checked: the files parse, and the worker's command, environment, ports and topics match what inferwatch reads and
defaults to, so ``docker compose up`` wires the same system as ``make demo``."""
from __future__ import annotations

import json
import re
import shlex
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from inferwatch.streams.cli import build_parser
from inferwatch.streams.config import ENV_OVERRIDES, KafkaSettings, RedisSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
KAFKA_ENV = SERVICES["kafka"]["environment"]
WORKER = SERVICES["worker"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: ``${NAME:-default}`` as compose interpolates it from the host environment
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+):-(?P<default>[^}]*)\}")


def worker_env() -> dict[str, str]:
    """The worker's environment as compose gives it when none of the host variables are set."""
    return {name: INTERPOLATION.sub(lambda m: m["default"], str(value)) for name, value in WORKER["environment"].items()}


def listeners(spec: str) -> dict[str, tuple[str, int]]:
    """``"NAME://host:port,…"`` as ``{NAME: (host, port)}`` (an empty host means every interface)."""
    parsed = {}
    for item in spec.split(","):
        name, address = item.split("://")
        host, port = address.rsplit(":", 1)
        parsed[name] = (host, int(port))
    return parsed


def dockerfile_instructions() -> list[tuple[str, str]]:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    return [tuple(line.split(None, 1)) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_worker_sets_only_variables_inferwatch_reads():
    assert set(WORKER["environment"]) <= set(ENV_OVERRIDES)
    assert {"INFERWATCH_KAFKA_BOOTSTRAP", "INFERWATCH_REDIS_URL"} <= set(WORKER["environment"])


def test_worker_settings_load_from_its_environment():
    env = worker_env()
    settings = load_settings(env=env)
    assert settings.kafka.bootstrap == env["INFERWATCH_KAFKA_BOOTSTRAP"]
    assert settings.redis.url == env["INFERWATCH_REDIS_URL"]


def test_worker_command_is_a_real_cli_command():
    command = WORKER["command"]
    args = build_parser().parse_args(command)
    assert args.command == command[0] == "worker"


def test_worker_reaches_kafka_on_its_advertised_internal_listener():
    host, port = WORKER["environment"]["INFERWATCH_KAFKA_BOOTSTRAP"].rsplit(":", 1)
    assert host in SERVICES and "kafka" in SERVICES[host]["image"]
    advertised = listeners(KAFKA_ENV["KAFKA_ADVERTISED_LISTENERS"])
    name = next(name for name, address in advertised.items() if address == (host, int(port)))
    assert listeners(KAFKA_ENV["KAFKA_LISTENERS"])[name][1] == int(port)
    assert int(port) == int(KafkaSettings().bootstrap.rsplit(":", 1)[1])


def test_host_reaches_kafka_on_the_default_bootstrap():
    default_host, default_port = KafkaSettings().bootstrap.rsplit(":", 1)
    advertised = listeners(KAFKA_ENV["KAFKA_ADVERTISED_LISTENERS"])
    name = next(name for name, address in advertised.items() if address == (default_host, int(default_port)))
    container_port = listeners(KAFKA_ENV["KAFKA_LISTENERS"])[name][1]
    assert f"{default_port}:{container_port}" in SERVICES["kafka"]["ports"]


def test_kafka_is_a_single_node_kraft_broker_and_controller():
    assert set(KAFKA_ENV["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    voter_id, voter_address = KAFKA_ENV["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert int(voter_id) == KAFKA_ENV["KAFKA_NODE_ID"]
    controller = KAFKA_ENV["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert voter_address == f"kafka:{listeners(KAFKA_ENV['KAFKA_LISTENERS'])[controller][1]}"
    replication = {k: v for k, v in KAFKA_ENV.items() if k.endswith(("_REPLICATION_FACTOR", "_MIN_ISR"))}
    assert replication and set(replication.values()) == {1}


def test_kafka_image_is_the_broker_version_the_local_stack_runs():
    pom = ET.parse(ROOT / "scripts" / "kafka" / "pom.xml").getroot()
    version = pom.find("{http://maven.apache.org/POM/4.0.0}properties/{http://maven.apache.org/POM/4.0.0}kafka.version")
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{version.text}"


def test_auto_created_topics_get_the_partitions_inferwatch_creates_its_topics_with():
    assert KAFKA_ENV["KAFKA_NUM_PARTITIONS"] == KafkaSettings().partitions


def test_worker_reaches_redis_service_on_the_default_port_and_db():
    url, default = urlsplit(WORKER["environment"]["INFERWATCH_REDIS_URL"]), urlsplit(RedisSettings().url)
    assert url.hostname in SERVICES and SERVICES[url.hostname]["image"].startswith("redis:")
    assert (url.scheme, url.port, url.path) == (default.scheme, default.port, default.path)
    assert f"{default.port}:{default.port}" in SERVICES[url.hostname]["ports"]


def test_worker_starts_after_kafka_and_redis_are_healthy():
    depends = WORKER["depends_on"]
    assert {name: spec["condition"] for name, spec in depends.items()} == {
        "kafka": "service_healthy", "redis": "service_healthy"}
    assert all("healthcheck" in SERVICES[name] for name in depends)


def test_dockerfile_entrypoint_is_the_console_script_of_the_package():
    entrypoint = dict(dockerfile_instructions())["ENTRYPOINT"]
    assert json.loads(entrypoint) == list(PYPROJECT["project"]["scripts"])
    assert WORKER["build"] == "."


def test_dockerfile_base_image_satisfies_requires_python():
    base = dict(dockerfile_instructions())["FROM"]
    match = re.fullmatch(r"python:(\d+)\.(\d+)-slim", base)
    assert match, base
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert tuple(map(int, match.groups())) >= tuple(map(int, minimum.groups()))


def test_dockerfile_copies_every_package_and_file_the_install_needs():
    copied = set()
    for instruction, args in dockerfile_instructions():
        if instruction == "COPY":
            *sources, _destination = shlex.split(args)
            copied.update(sources)
    packages = set(PYPROJECT["tool"]["setuptools"]["package-dir"].values())  # the folders mapped under inferwatch.
    assert packages <= copied
    assert {"pyproject.toml", PYPROJECT["project"]["readme"]} <= copied
    missing = sorted(source for source in copied if not (ROOT / source).exists())
    assert not missing, f"COPY sources missing from the repository: {missing}"


@pytest.mark.parametrize("path", ["docker-compose.yml", "Dockerfile"])
def test_no_secret_is_written_into_the_files(path):
    text = (ROOT / path).read_text()
    for secret_var in ("SLACK_BOT_TOKEN", "PAGERDUTY_ROUTING_KEY", "INFERWATCH_STATE_KEY"):
        values = re.findall(rf"{secret_var}:\s*(\S*)", text)
        assert all(value in ("", f"${{{secret_var}:-}}") for value in values), values


# ---------------------------------------------------------------- Prometheus and Grafana (docs/dashboard.md)

def mounts(service: str) -> dict[str, Path]:
    """Container path -> repository file of each bind mount of ``service`` (named volumes left out)."""
    out = {}
    for spec in SERVICES[service].get("volumes", []):
        source, target = spec.split(":")[:2]
        if source.startswith("./"):
            out[target] = ROOT / source
    return out


def mounted(service: str, container_path: str) -> Path:
    """The repository file behind ``container_path`` in ``service``, through a file or a directory mount."""
    for target, source in mounts(service).items():
        if container_path == target:
            return source
        if container_path.startswith(target.rstrip("/") + "/"):
            return source / container_path[len(target.rstrip("/")) + 1:]
    raise AssertionError(f"{container_path} is not mounted into {service}")


def test_every_mounted_file_of_prometheus_and_grafana_exists():
    missing = [str(p) for service in ("prometheus", "grafana") for p in mounts(service).values() if not p.exists()]
    assert not missing


def test_prometheus_scrapes_every_worker_on_its_metrics_port():
    config = yaml.safe_load(mounted("prometheus", "/etc/prometheus/prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "inferwatch"]
    (sd,) = job["dns_sd_configs"]
    args = build_parser().parse_args(WORKER["command"])
    assert sd["names"] == ["worker"] and sd["port"] == args.metrics_port
    assert str(args.metrics_port) in WORKER["expose"]


def test_prometheus_loads_the_rules_file_it_is_given():
    config = yaml.safe_load(mounted("prometheus", "/etc/prometheus/prometheus.yml").read_text())
    rules = [mounted("prometheus", path) for path in config["rule_files"]]
    assert rules == [ROOT / "docs" / "prometheus" / "inferwatch-rules.yml"]
    command = SERVICES["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in command


def test_grafana_datasource_reaches_prometheus_and_matches_the_dashboard():
    (datasource,) = yaml.safe_load(
        mounted("grafana", "/etc/grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"]
    url = urlsplit(datasource["url"])
    assert url.hostname == "prometheus" and f"{url.port}:{url.port}" in SERVICES["prometheus"]["ports"]
    dashboard = json.loads(mounted("grafana", "/var/lib/grafana/dashboards/inferwatch.json").read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])}
    assert uids == {datasource["uid"]}


def test_grafana_provider_loads_the_dashboard_from_where_it_is_mounted():
    (provider,) = yaml.safe_load(
        mounted("grafana", "/etc/grafana/provisioning/dashboards/inferwatch.yml").read_text())["providers"]
    dashboard = mounted("grafana", provider["options"]["path"] + "/inferwatch.json")
    assert dashboard == ROOT / "docs" / "grafana" / "inferwatch.json"


def test_the_committed_dashboard_is_what_its_generator_writes():
    import importlib.util
    spec = importlib.util.spec_from_file_location("grafana_dashboard", ROOT / "scripts" / "grafana_dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert json.loads((ROOT / "docs" / "grafana" / "inferwatch.json").read_text()) == module.dashboard()
