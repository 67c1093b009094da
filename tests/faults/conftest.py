"""The fault suite's shared bench: one ``Lab`` per session on the session's broker and Redis (the undisturbed run
is made once, on first use), and a broker of its own for the case that kills one."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.conftest import LocalStack
from tests.faults.harness import Lab


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, redis_url: str) -> Iterator[Lab]:
    bench = Lab(tmp_path_factory.mktemp("faults"), kafka_bootstrap, redis_url)
    yield bench
    bench.close()


@pytest.fixture
def killable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A broker of the test's own (the session's must survive), with its data dir, to SIGKILL and start again."""
    stack = LocalStack.on_free_ports(tmp_path_factory.mktemp("killable-broker"))
    stack.up("kafka")
    yield stack
    stack.down("kafka")
