"""How we reach a secured Kafka cluster: ``KafkaSettings`` turned into each client's configuration, in one place.

Why one module: every Kafka client we create (the worker's Faust/aiokafka consumer and producer, confluent-kafka
producers and admin clients) must reach the same managed cluster (MSK, Confluent Cloud, Aiven, Strimzi) with the same
protocol, mechanism, credentials and CA; written once here, a new client cannot forget one of them.

Supported: ``PLAINTEXT``, ``SSL`` (with a client certificate for mTLS), ``SASL_PLAINTEXT`` and ``SASL_SSL`` with
``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``. ``OAUTHBEARER`` is not offered: aiokafka takes OAuth tokens only from
a token-provider object written in code, so the worker could not use a mechanism that the settings can describe.

Why a watch on client errors: librdkafka retries a refused login forever, logging as it goes, and a produce or a
metadata request then hangs until its timeout; ``AccessWatch`` turns the first authentication or TLS failure into
one ``KafkaAccessError`` whose message names user, brokers and mechanism (never the password), raised at once.

This module imports neither Faust nor ``streams.config`` at import time, so the light producer can use it.

>>> from inferwatch.streams.config import KafkaSettings
>>> client_config(KafkaSettings(bootstrap="k:9093", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
...                             sasl_username="alice", sasl_password="s3cret", ssl_ca_file="/etc/ca.pem"))
... # doctest: +NORMALIZE_WHITESPACE
{'bootstrap.servers': 'k:9093', 'security.protocol': 'SASL_SSL', 'ssl.ca.location': '/etc/ca.pem',
 'sasl.mechanism': 'SCRAM-SHA-512', 'sasl.username': 'alice', 'sasl.password': 's3cret'}
>>> describe_client({"bootstrap.servers": "k:9093", "security.protocol": "SASL_SSL",
...                  "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": "s3cret"})
'for user alice at k:9093 (SASL_SSL SCRAM-SHA-512)'
"""
from __future__ import annotations

import logging
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from confluent_kafka import KafkaError

if TYPE_CHECKING:
    from inferwatch.streams.config import KafkaSettings

log = logging.getLogger(__name__)
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
#: librdkafka's codes for a refused login or a failed TLS handshake: retrying will not fix either
ACCESS_ERROR_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED,
                                KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
                                KafkaError.GROUP_AUTHORIZATION_FAILED})
#: a transport error with this text is the broker refusing our TLS handshake (no or untrusted client certificate):
#: librdkafka reports it as _TRANSPORT, like a network fault, but retrying will not fix it either
TLS_ALERT_TEXT = "ssl/tls alert"
#: how often a metadata request is retried while we watch for an access error
METADATA_POLL_S = 0.25


class KafkaAccessError(RuntimeError):
    """The cluster refused us (bad credentials, untrusted certificate, missing ACL); one line, never a secret."""


def sasl_password(kafka: "KafkaSettings") -> str:
    """The password from the setting, else from ``sasl_password_file`` (a mounted secret; trailing newline dropped)."""
    if kafka.sasl_password or not kafka.sasl_password_file:
        return kafka.sasl_password
    try:
        return Path(kafka.sasl_password_file).read_text().rstrip("\r\n")
    except OSError as exc:
        raise KafkaAccessError(f"cannot read kafka.sasl_password_file {kafka.sasl_password_file}: "
                               f"{exc.strerror}") from None


def client_config(kafka: "KafkaSettings") -> dict[str, Any]:
    """librdkafka (confluent-kafka) properties: ``bootstrap.servers`` plus the security ones for the settings."""
    config: dict[str, Any] = {"bootstrap.servers": kafka.bootstrap, "security.protocol": kafka.security_protocol}
    if kafka.security_protocol in TLS_PROTOCOLS:
        config.update({key: value for key, value in (("ssl.ca.location", kafka.ssl_ca_file),
                                                      ("ssl.certificate.location", kafka.ssl_cert_file),
                                                      ("ssl.key.location", kafka.ssl_key_file)) if value})
    if kafka.security_protocol in SASL_PROTOCOLS:
        config.update({"sasl.mechanism": kafka.sasl_mechanism, "sasl.username": kafka.sasl_username,
                       "sasl.password": sasl_password(kafka)})
    return config


def ssl_context(kafka: "KafkaSettings") -> ssl.SSLContext | None:
    """The TLS context for aiokafka: the configured CA (else the system's), our certificate for mTLS if given."""
    if kafka.security_protocol not in TLS_PROTOCOLS:
        return None
    context = ssl.create_default_context(cafile=kafka.ssl_ca_file or None)
    if kafka.ssl_cert_file:
        context.load_cert_chain(kafka.ssl_cert_file, kafka.ssl_key_file or None)
    return context


def faust_credentials(kafka: "KafkaSettings") -> Any:
    """Faust's ``broker_credentials`` (``None`` for PLAINTEXT); Faust hands them to every aiokafka client it makes."""
    from faust.auth import SASLCredentials, SSLCredentials  # here, not at the top: the light producer has no Faust

    context = ssl_context(kafka)
    if kafka.security_protocol in SASL_PROTOCOLS:
        return SASLCredentials(username=kafka.sasl_username, password=sasl_password(kafka), ssl_context=context,
                               mechanism=kafka.sasl_mechanism)
    return SSLCredentials(context) if context is not None else None


def describe_client(config: Mapping[str, Any]) -> str:
    """Who we are and where we connect, for error messages: user, brokers, protocol and mechanism; no secrets."""
    protocol = str(config.get("security.protocol", "PLAINTEXT")).upper()
    where = f"at {config.get('bootstrap.servers', '?')}"
    if protocol in SASL_PROTOCOLS:
        mechanism = config.get("sasl.mechanism", "PLAIN")
        return f"for user {config.get('sasl.username') or '?'} {where} ({protocol} {mechanism})"
    if protocol == "SSL" and config.get("ssl.certificate.location"):
        return f"for client certificate {config['ssl.certificate.location']} {where} (SSL)"
    return f"{where} ({protocol})"


class AccessWatch:
    """A confluent-kafka ``error_cb`` that keeps the first access failure as a ``KafkaAccessError``.

    >>> watch = AccessWatch({"bootstrap.servers": "k:9093", "security.protocol": "SASL_SSL",
    ...                      "sasl.mechanism": "PLAIN", "sasl.username": "bob"})
    >>> watch(KafkaError(KafkaError._TRANSPORT, "Connection refused"))  # transient: not kept
    >>> watch(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: invalid credentials"))
    >>> str(watch.error)
    'Kafka authentication failed for user bob at k:9093 (SASL_SSL PLAIN): SASL authentication error: invalid credentials'
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.who = describe_client(config)
        self.error: KafkaAccessError | None = None
        self._warned = False

    def __call__(self, err: KafkaError) -> None:
        reason = " ".join(err.str().split())  # librdkafka's text, on one line
        tls_refused = err.code() == KafkaError._TRANSPORT and TLS_ALERT_TEXT in reason.lower()
        if err.code() in ACCESS_ERROR_CODES or tls_refused:
            if self.error is None:
                what = "TLS handshake" if tls_refused or err.code() == KafkaError._SSL else "authentication"
                self.error = KafkaAccessError(f"Kafka {what} failed {self.who}: {reason}")
        elif not self._warned:  # transient (broker down, refused connection): librdkafka retries; say it once
            self._warned = True
            log.warning("Kafka %s: %s (retrying)", self.who, reason)

    def log(self, level: int, fmt: str, *args: Any) -> None:
        """librdkafka's log (``logger`` property). Its connection failures (facility ``FAIL``) repeat on every retry
        and reach ``__call__`` too, so they go to debug; everything else keeps its level."""
        facility = args[0] if args else fmt.split(" ", 1)[0]
        log.log(logging.DEBUG if facility == "FAIL" else level, fmt, *args)

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error


def watched(config: Mapping[str, Any]) -> tuple[dict[str, Any], AccessWatch]:
    """``config`` with an ``error_cb`` (and ``logger``) that records access failures, and the watch to ask."""
    watch = AccessWatch(config)
    return {**config, "error_cb": watch, "logger": watch}, watch


def list_topics_or_fail(client: Any, watch: AccessWatch, timeout_s: float) -> Any:
    """``client.list_topics()``, but raising ``KafkaAccessError`` as soon as the cluster refuses us (instead of
    waiting out ``timeout_s``); the last ``KafkaException`` if the brokers stay unreachable."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return client.list_topics(timeout=min(METADATA_POLL_S, max(deadline - time.monotonic(), 0.01)))
        except Exception:  # confluent_kafka.KafkaException: timed out on this short slice
            client.poll(0)  # error_cb is served from poll()
            watch.raise_if_failed()
            if time.monotonic() >= deadline:
                raise
