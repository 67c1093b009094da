"""Real services for the tests: an Apache Kafka broker (KRaft) and a redis-server, started once per session.

Why through ``scripts/stack.sh``: the broker's configuration, storage format and readiness probe are written once,
for developers, ``make demo`` and the tests alike. Each session gets its own free ports and a fresh run dir under
pytest's tmp dir, so the tests never touch a developer's running stack, and the fixtures are lazy: a run whose tests
ask for no Kafka starts none. A test that uses ``kafka_bootstrap`` (or ``redis_url``) is marked ``kafka`` (``redis``)
automatically, so ``pytest -m "not kafka"`` runs everything that needs no broker.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import redis
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
STACK_SCRIPT = ROOT / "scripts" / "stack.sh"
#: covers a first run that still has to fetch the Kafka jars with Maven
STACK_COMMAND_TIMEOUT_S = 600
TOPIC_READY_TIMEOUT_S = 30
#: a test needing one of these fixtures gets the marker of the service behind it
SERVICE_MARKERS = {"kafka_bootstrap": "kafka", "redis_url": "redis"}
#: tests that need real services (the session's, or brokers and stacks of their own) run one after the other on one
#: pytest-xdist worker (``make test`` runs two): one session broker and Redis, no two JVMs starting at once, and the
#: other worker takes the tests that need none meanwhile
SERVICE_GROUP = "services"
SERVICE_FIXTURES = frozenset({*SERVICE_MARKERS, "session_stack", "new_stack", "secure_kafka"})


def free_port(span: int = 1, exclude: frozenset[int] = frozenset()) -> int:
    """A port on 127.0.0.1 that is free, together with the ``span - 1`` ports after it (Kafka's controller uses +1)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        run = range(port, port + span)
        if port + span <= 65536 and exclude.isdisjoint(run) and all(_is_free(p) for p in run):
            return port
    raise RuntimeError(f"no run of {span} free ports found on 127.0.0.1")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class LocalStack:
    """``scripts/stack.sh`` bound to one run dir and its ports."""

    run_dir: Path
    kafka_port: int
    redis_port: int
    #: ``none`` for the session services (tests need no durability); ``aof`` is the developer stack's default
    redis_persist: str = "none"

    @classmethod
    def on_free_ports(cls, run_dir: Path, redis_persist: str = "none") -> "LocalStack":
        kafka_port = free_port(span=2)
        redis_port = free_port(exclude=frozenset({kafka_port, kafka_port + 1}))
        return cls(run_dir, kafka_port=kafka_port, redis_port=redis_port, redis_persist=redis_persist)

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "INFERWATCH_RUN_DIR": str(self.run_dir),
            "INFERWATCH_KAFKA_PORT": str(self.kafka_port),
            "INFERWATCH_REDIS_PORT": str(self.redis_port),
            "INFERWATCH_REDIS_PERSIST": self.redis_persist,
        }
        return subprocess.run(["bash", str(STACK_SCRIPT), *args], env=env, capture_output=True, text=True,
                              timeout=STACK_COMMAND_TIMEOUT_S)

    def up(self, *services: str) -> None:
        """Start ``services`` (all by default), failing the test with the script's output and log tail otherwise."""
        self._must("up", *services)

    def down(self, *services: str) -> None:
        self._must("down", *services)

    def _must(self, *args: str) -> None:
        proc = self.run(*args)
        if proc.returncode != 0:
            pytest.fail(f"scripts/stack.sh {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}",
                        pytrace=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, marker in SERVICE_MARKERS.items():
            if fixture in fixtures:
                item.add_marker(marker)
        if fixtures & SERVICE_FIXTURES:
            item.add_marker(pytest.mark.xdist_group(SERVICE_GROUP))


@pytest.fixture(scope="session")
def session_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The session's services (started lazily by the fixtures below); whatever was started is stopped at the end."""
    stack = LocalStack.on_free_ports(tmp_path_factory.mktemp("stack"))
    yield stack
    stack.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(session_stack: LocalStack) -> str:
    """``"127.0.0.1:PORT"`` of a real single-node Kafka broker with a fresh data dir, shared by the session."""
    session_stack.up("kafka")
    return session_stack.kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url(session_stack: LocalStack) -> str:
    """``"redis://127.0.0.1:PORT/0"`` of a real redis-server without persistence, shared by the session."""
    session_stack.up("redis")
    return session_stack.redis_url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the session's Redis, whose database is emptied before each test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def new_topic(kafka_admin: AdminClient) -> Callable[..., str]:
    """``new_topic(name_prefix, partitions=1) -> name``: creates a topic no other test uses and waits for its leaders."""

    def create(name_prefix: str, partitions: int = 1) -> str:
        name = f"{name_prefix}.{uuid.uuid4().hex[:12]}"
        futures = kafka_admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                                            operation_timeout=TOPIC_READY_TIMEOUT_S)
        futures[name].result(timeout=TOPIC_READY_TIMEOUT_S)
        _wait_for_leaders(kafka_admin, name, partitions)
        return name

    return create


def _wait_for_leaders(admin: AdminClient, topic: str, partitions: int) -> None:
    deadline = time.monotonic() + TOPIC_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        metadata = admin.list_topics(topic, timeout=5).topics.get(topic)
        if (metadata is not None and metadata.error is None and len(metadata.partitions) == partitions
                and all(p.leader >= 0 for p in metadata.partitions.values())):
            return
        time.sleep(0.05)
    raise TimeoutError(f"topic {topic} has no leader for all {partitions} partitions after {TOPIC_READY_TIMEOUT_S} s")


@pytest.fixture
def new_stack(tmp_path: Path) -> Iterator[Callable[..., LocalStack]]:
    """``new_stack(redis_persist="aof") -> LocalStack``: an extra, not yet started stack on free ports in a fresh
    run dir, for tests of the stack itself; stopped at the end of the test."""
    stacks: list[LocalStack] = []

    def make(redis_persist: str = "aof") -> LocalStack:
        stack = LocalStack.on_free_ports(tmp_path / f"stack{len(stacks)}", redis_persist=redis_persist)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.down()


# --- a secured broker, for the tests of streams.kafka_security ---------------------------------------------------

#: the users of the secured broker's SASL_SSL listener: PLAIN is declared in the broker's JAAS line, SCRAM users are
#: created through the admin API (as a cluster operator would), with both SCRAM mechanisms
SECURE_KAFKA_USERS = {"alice": "alice-secret-1", "bob": "bob-secret-2"}


@dataclass(frozen=True)
class SecureKafka:
    """A real broker with a SASL_SSL listener (PLAIN, SCRAM-SHA-256/512) and an mTLS listener (SSL, client
    certificate required), signed by a CA made for this session; its PLAINTEXT listener is for the tests' admin."""

    plaintext_bootstrap: str
    sasl_ssl_bootstrap: str
    mtls_bootstrap: str
    ca_file: Path
    client_cert_file: Path
    client_key_file: Path
    users: dict[str, str]


def _secure_broker_properties(stack: LocalStack, sasl_port: int, mtls_port: int, keystore: Path, ca: Path) -> str:
    plain_users = " ".join(f'user_{name}="{password}"' for name, password in SECURE_KAFKA_USERS.items())
    scram_login = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return "\n".join([
        "# the secure-broker fixture's listeners (tests/conftest.py)",
        f"listeners=PLAINTEXT://127.0.0.1:{stack.kafka_port},CONTROLLER://127.0.0.1:{stack.kafka_port + 1},"
        f"SASL_SSL://127.0.0.1:{sasl_port},SSL://127.0.0.1:{mtls_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{stack.kafka_port},SASL_SSL://127.0.0.1:{sasl_port},"
        f"SSL://127.0.0.1:{mtls_port}",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        f"listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
        f"required {plain_users};",
        f"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={scram_login}",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram_login}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={ca}",
        "listener.name.ssl.ssl.client.auth=required",
        "",
    ])


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    """A second broker, secured, started only for the tests that ask for it (it costs a broker start)."""
    import trustme
    from cryptography.hazmat.primitives import serialization
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    run_dir = tmp_path_factory.mktemp("secure-stack")
    ca = trustme.CA()
    ca_file, keystore = run_dir / "ca.pem", run_dir / "broker.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = ca.issue_cert("127.0.0.1", "localhost")
    # Kafka's PEM keystore reads PKCS#8 keys only; trustme writes SEC1 ("EC PRIVATE KEY")
    key = serialization.load_pem_private_key(server.private_key_pem.bytes(), password=None)
    keystore.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())
                         + b"".join(blob.bytes() for blob in server.cert_chain_pems))
    client = ca.issue_cert("inferwatch-client")
    client_cert, client_key = run_dir / "client.pem", run_dir / "client.key"
    for blob in client.cert_chain_pems:
        blob.write_to_path(str(client_cert), append=True)
    client.private_key_pem.write_to_path(str(client_key))

    stack = LocalStack.on_free_ports(run_dir)
    taken = frozenset({stack.kafka_port, stack.kafka_port + 1, stack.redis_port})
    sasl_port = free_port(exclude=taken)
    mtls_port = free_port(exclude=taken | {sasl_port})
    extra = run_dir / "secure.properties"
    extra.write_text(_secure_broker_properties(stack, sasl_port, mtls_port, keystore, ca_file))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INFERWATCH_KAFKA_EXTRA_PROPERTIES", str(extra))
        stack.up("kafka")
    try:
        admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
        for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):  # one per user and request
            upserts = [UserScramCredentialUpsertion(name, ScramCredentialInfo(mechanism, 4096), password.encode())
                       for name, password in SECURE_KAFKA_USERS.items()]
            for future in admin.alter_user_scram_credentials(upserts).values():
                future.result(timeout=TOPIC_READY_TIMEOUT_S)
        yield SecureKafka(stack.kafka_bootstrap, f"127.0.0.1:{sasl_port}", f"127.0.0.1:{mtls_port}", ca_file,
                          client_cert, client_key, dict(SECURE_KAFKA_USERS))
    finally:
        stack.down("kafka")
