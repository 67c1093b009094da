"""Redis over TLS with an ACL user, as managed Redis offers it: a real ``redis-server`` with ``--tls-port`` only and a
user ``alice``; the checkpoint store and the alert store connect from ``RedisSettings`` (``rediss://`` URL + CA)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import redis
import trustme

from inferwatch.alerting.config import AlertingSettings
from inferwatch.alerting.notifiers.memory import InMemoryNotifier
from inferwatch.alerting.service import AlertingService
from inferwatch.streams.checkpoints import RedisCheckpointStore, SignedBlobCodec
from inferwatch.streams.config import RedisSettings
from scripts.regimes.redis_server import start_redis_server, stop_redis_server
from tests.alerting.conftest import anomaly
from tests.conftest import free_port

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """``(port, ca_file)`` of a redis-server that speaks only TLS and knows only the ACL user alice (password pw)."""
    run = tmp_path_factory.mktemp("redis-tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(run / "ca.pem"))
    cert.private_key_pem.write_to_path(str(run / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(run / "server.pem"))
    port = free_port()
    log = str(run / "redis.log")
    with redis.Redis.from_url(f"rediss://alice:pw@127.0.0.1:{port}/0", ssl_ca_certs=str(run / "ca.pem")) as client:
        process = start_redis_server(
            ["--bind", "127.0.0.1", "--port", "0", "--tls-port", str(port),
             "--tls-cert-file", str(run / "server.pem"), "--tls-key-file", str(run / "server.key"),
             "--tls-ca-cert-file", str(run / "ca.pem"), "--tls-auth-clients", "no", "--save", "", "--appendonly", "no",
             "--dir", str(run), "--logfile", log,
             "--user", "default", "off", "--user", "alice", "on", ">pw", "~*", "&*", "+@all"], client, log)
    yield port, run / "ca.pem"
    stop_redis_server(process)


def settings(tls_redis, password: str = "pw") -> RedisSettings:
    port, ca_file = tls_redis
    return RedisSettings(url=f"rediss://alice:{password}@127.0.0.1:{port}/0", ssl_ca_file=str(ca_file))


def test_checkpoint_store_round_trips_over_tls_with_an_acl_user(tls_redis):
    redis_settings = settings(tls_redis)
    store = RedisCheckpointStore(redis.Redis.from_url(redis_settings.url, **redis_settings.client_options()),
                                 SignedBlobCodec(b"k" * 32))
    store.save_many({"series-a": b"state-1"})
    assert store.load("series-a") == b"state-1"


def test_alert_store_ingests_over_tls_with_an_acl_user(tls_redis):
    redis_settings = settings(tls_redis)
    service = AlertingService.from_settings(AlertingSettings(), redis_settings.url,
                                            notifiers={"memory": InMemoryNotifier()},
                                            redis_options=redis_settings.client_options())
    service.ingest(anomaly(fingerprint="fp-tls"))
    assert [alert.fingerprint for alert in service.store.active_alerts()] == ["fp-tls"]


def test_without_the_ca_the_server_is_not_trusted(tls_redis):
    port, _ = tls_redis
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        redis.Redis.from_url(f"rediss://alice:pw@127.0.0.1:{port}/0").ping()


def test_wrong_acl_password_is_refused(tls_redis):
    redis_settings = settings(tls_redis, password="nope")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(redis_settings.url, **redis_settings.client_options()).ping()
