"""inferwatch as a user installs it: the wheel built from the repository holds ``inferwatch.*`` only (the folders
``streams/``, ``detectors/``, ``alerting/`` and ``runbooks/`` mapped under it), and, installed into a fresh virtual
environment and run from a directory far from the checkout, its worker finds the runbooks shipped inside it."""
from __future__ import annotations

import os
import subprocess
import sysconfig
import time
import uuid
import zipfile
from pathlib import Path

import orjson
import pytest
import yaml

from tests.wheels import build_wheel, fresh_venv, pip_install, run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheels"), tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed. Its third-party dependencies come from the test run's own environment
    (a ``.pth`` line: no network, no second download of River and SciPy); that environment's editable inferwatch is
    not visible there (its finder is registered by a ``.pth`` file, which a path added this way does not run)."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    python = fresh_venv(venv)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv.parent).strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip_install(python, "--no-deps", wheel)
    return venv


def test_the_wheel_installs_nothing_but_inferwatch_and_ships_the_runbooks(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"inferwatch", wheel.name.split("-py3")[0] + ".dist-info"}
    shipped = {Path(name).name for name in names if name.startswith("inferwatch/runbooks/") and name.endswith(".md")}
    assert shipped == {path.name for path in (ROOT / "runbooks").glob("*.md")}
    assert "inferwatch/streams/cli.py" in names and "inferwatch/__init__.py" not in names, "a namespace package"


def test_the_installed_command_runs_far_from_the_checkout(installed, tmp_path):
    inferwatch = installed / "bin" / "inferwatch"
    assert run(inferwatch, "--version", cwd=tmp_path).startswith("inferwatch 0.1.0")
    lint = orjson.loads(run(inferwatch, "runbooks", "lint", "-o", "json", cwd=tmp_path))
    assert lint["ok"] and lint["runbooks"] == len(list((ROOT / "runbooks").glob("*.md")))
    assert Path(lint["directory"]).is_relative_to(installed), lint["directory"]
    probe = "import importlib.util as u; print(u.find_spec('streams'), u.find_spec('detectors'), u.find_spec('alerting'))"
    assert run(installed / "bin" / "python", "-c", probe, cwd=tmp_path).split() == ["None"] * 3


def test_the_installed_worker_finds_its_runbooks(installed, tmp_path, kafka_bootstrap, redis_url):
    run_id = uuid.uuid4().hex[:8]
    config = tmp_path / "inferwatch.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": kafka_bootstrap, "telemetry_topic": f"p-{run_id}.telemetry",
                  "anomalies_topic": f"p-{run_id}.anomalies", "dlq_topic": f"p-{run_id}.dlq", "group_id": f"p-{run_id}"},
        "redis": {"url": redis_url}, "alerting": {"outbox_path": str(tmp_path / "outbox.jsonl"),
                                                  "key_prefix": f"p-{run_id}:alerting:"}}))
    log = tmp_path / "worker.log"
    with open(log, "wb") as handle:
        worker = subprocess.Popen([installed / "bin" / "inferwatch", "--config", config, "--log-level", "INFO", "worker"],
                                  cwd=tmp_path, stdout=handle, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while "runbooks loaded from" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(60)
    text = log.read_text(errors="replace")
    [line] = [line for line in text.splitlines() if "runbooks loaded from" in line]
    assert f"{len(list((ROOT / 'runbooks').glob('*.md')))} runbooks loaded from {installed}" in line, line
    assert "not found" not in text
