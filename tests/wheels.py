"""Wheels built from the repository and fresh virtual environments to install them into, for the tests of what a user
installs (``tests/test_packaging.py``, ``tests/streams/test_producer_dist.py``).

Why not ``pip wheel`` and ``python -m venv`` as they come: each ``pip wheel`` makes an isolated build environment
(a venv, then setuptools installed into it) and each venv gets its own pip from ``ensurepip``: about a minute of a
test run for nothing the tests look at. Here the build environment is made once per session, with the
``build-system.requires`` of the projects, and the wheel is built by calling the project's ``build-backend`` in it, as
pip would; the fresh venvs get no pip, and the test run's pip installs into them (``pip --python``).
"""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

#: a build that has to fetch setuptools, an install that has to fetch confluent-kafka
TIMEOUT_S = 300


def run(*args: str | Path, cwd: Path | None = None, env: dict | None = None) -> str:
    """Runs a command, failing the test with the tail of its output if it fails; returns its stdout."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def fresh_venv(path: Path) -> Path:
    """A new virtual environment with nothing installed (not even pip); returns its python."""
    run(sys.executable, "-m", "venv", "--without-pip", path)
    return path / "bin" / "python"


def pip_install(python: Path, *requirements: str | Path) -> None:
    """``pip install`` into the environment of ``python`` (one made by ``fresh_venv``) with the test run's pip."""
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--disable-pip-version-check",
        *requirements)


def build_system(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text())["build-system"]


def build_wheel(project: Path, out: Path, scratch: Path) -> Path:
    """The wheel of ``project`` (a folder with a pyproject.toml), written into ``out``. The build environment is
    made under ``scratch`` on first use (pass the session's base temp dir) and reused while its requirements are
    the same."""
    system = build_system(project)
    python = _build_environment(scratch / "wheel-build", system["requires"])
    out.mkdir(parents=True, exist_ok=True)
    hook = "import importlib, sys; print(importlib.import_module(sys.argv[1]).build_wheel(sys.argv[2]))"
    name = run(python, "-c", hook, system["build-backend"], out.resolve(), cwd=project).strip().splitlines()[-1]
    return out / name


def _build_environment(directory: Path, requires: list[str]) -> Path:
    python = directory / "bin" / "python"
    done = directory / "requires.txt"  # written last: a half-made environment is made again
    wanted = "\n".join(sorted(requires))
    if not done.exists() or done.read_text() != wanted:
        fresh_venv(directory)
        pip_install(python, *requires)
        done.write_text(wanted)
    return python
