"""A private, throwaway redis-server: on a free port, no persistence, stopped by its own pid.

``start_redis_server`` / ``stop_redis_server`` are the one way a script or a test starts a redis-server of its own
with options of its choosing (tests/streams/test_redis_tls.py starts a TLS-only one with them); ``RedisServer`` is
the plain one the benchmarks use. The session's Redis of the tests comes from scripts/stack.sh instead.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from typing import Sequence

import redis

from tests.conftest import free_port

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


def start_redis_server(options: Sequence[str], client: redis.Redis, log: str,
                       timeout_s: float = START_TIMEOUT_S) -> subprocess.Popen:
    """``redis-server *options``, returned once ``client`` gets an answer from it; if it exits or stays silent for
    ``timeout_s``, it is stopped and ``RuntimeError`` points at ``log`` (where ``options`` told it to write)."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server not found: run scripts/install.sh")
    process = subprocess.Popen(["redis-server", *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_redis_server(process)
                raise RuntimeError(f"redis-server did not start (log: {log})") from None
            time.sleep(0.05)


def stop_redis_server(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``STOP_TIMEOUT_S``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    """``with RedisServer() as url:`` a redis-server on a free port, without persistence, in a temporary dir."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.dir = ""
        self.url = ""

    def __enter__(self) -> str:
        self.dir = tempfile.mkdtemp(prefix="regimes-redis-")
        port = free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        log = f"{self.dir}/redis.log"  # left in place if the server does not start, for the error to point at
        with redis.Redis.from_url(self.url) as client:
            self.process = start_redis_server(
                ["--bind", "127.0.0.1", "--port", str(port), "--dir", self.dir, "--save", "", "--appendonly", "no",
                 "--daemonize", "no", "--logfile", log], client, log)
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_redis_server(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)
