"""A private, throwaway redis-server for the benchmark: on a free port, no persistence, stopped by its own pid."""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

import redis

START_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """``with RedisServer() as url:`` starts redis-server (as tests/conftest.py's stack does, without persistence)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.dir = ""
        self.url = ""

    def __enter__(self) -> str:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server not found: run scripts/install.sh")
        self.dir = tempfile.mkdtemp(prefix="regimes-redis-")
        port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", self.dir, "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--logfile", f"{self.dir}/redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"redis-server did not start (log: {self.dir}/redis.log)")
                time.sleep(0.05)
        client.close()
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
