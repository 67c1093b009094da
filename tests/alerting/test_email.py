"""Email through smtplib against a real SMTP server (aiosmtpd) that requires STARTTLS (trustme certificate) and AUTH."""
from __future__ import annotations

import socket
import ssl
from email import message_from_bytes, policy
from email.message import Message
from typing import Iterator

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from inferwatch.alerting.config import LevelSettings, PolicySettings, TargetSettings
from inferwatch.alerting.notifiers import EmailNotifier, build_notifiers
from inferwatch.streams.config import load_settings

from tests.alerting.conftest import T0, anomaly, two_level_settings

FP = "fp-latency-checkout"
USER, PASSWORD = "inferwatch", "s3cret-smtp-pass"


class Mailbox:
    """What the SMTP server accepted, and replies to give the next DATA commands instead of 250."""

    def __init__(self) -> None:
        self.messages: list[tuple[Message, dict]] = []
        self.replies: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.messages.append((message_from_bytes(envelope.content, policy=policy.default), {
            "tls": session.ssl is not None,
            "login": session.auth_data.login if session.authenticated else None, "rcpt": list(envelope.rcpt_tos)}))
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (USER.encode(),
                                                                                          PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    def __init__(self, ca: trustme.CA, starttls: bool = True) -> None:
        self.mailbox = Mailbox()
        options = {}
        if starttls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(context)
            options = dict(tls_context=context, require_starttls=True, auth_required=True, auth_require_tls=True)
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, authenticator=authenticate,
                                     **options)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture(scope="module")
def smtp_ca(tmp_path_factory) -> tuple[trustme.CA, str]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("smtp-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, str(path)


@pytest.fixture
def smtp(smtp_ca) -> Iterator[SmtpServer]:
    server = SmtpServer(smtp_ca[0])
    yield server
    server.close()


def mail_settings(port: int, ca_file: str, tmp_path, password: str = PASSWORD, **alerting):
    """Settings loaded as a deployment would: YAML for the server, the credentials from the environment."""
    config = tmp_path / "inferwatch.yaml"
    config.write_text(f"""
alerting:
  targets: {{oncall-mail: {{type: email, to: [oncall@example.com, lead@example.com]}}}}
  policies: {{default: {{levels: [{{targets: [oncall-mail]}}]}}}}
  email: {{host: 127.0.0.1, port: {port}, ca_file: {ca_file}, sender: alerts@example.com, timeout_s: 5}}
  outbox_path: {tmp_path / 'outbox.jsonl'}
""")
    settings = load_settings(config, env={"INFERWATCH_SMTP_USERNAME": USER, "INFERWATCH_SMTP_PASSWORD": password})
    return settings.alerting


def test_a_page_is_mailed_over_starttls_with_auth_and_its_resolve_answers_it(make_service, smtp, smtp_ca, tmp_path):
    settings = mail_settings(smtp.port, smtp_ca[1], tmp_path, console_url="https://inferwatch.example")
    assert settings.email.username == USER and PASSWORD not in repr(settings)
    service = make_service(settings, notifiers=build_notifiers(settings))
    assert isinstance(service.engine.notifiers["oncall-mail"], EmailNotifier)
    service.ingest(anomaly(0, stages=[{"stage": "inference", "value": 2.84, "expected": 1.57, "delta": 1.27}]),
                   now=T0)
    service.tick(T0)
    service.resolve(FP, "cli:alice", now=T0 + 60)
    service.tick(T0 + 60)
    (page, page_session), (resolve, _) = smtp.mailbox.messages
    assert page_session == {"tls": True, "login": USER.encode(), "rcpt": ["oncall@example.com", "lead@example.com"]}
    assert page["Subject"] == "[FIRING] WARNING: LLM call latency above its baseline · checkout"
    body = page.get_content()
    assert "Seen:     4.2 s" in body and "inference: 2.84 s vs 1.57 s (+1.27 s)" in body
    assert resolve["Subject"].startswith("Re: [RESOLVED] ")
    assert resolve["In-Reply-To"] == page["Message-ID"] and "Resolved by cli:alice." in resolve.get_content()
    assert {e.status for e in service.outbox.entries(FP)} == {"sent"}


@pytest.mark.parametrize("reply, sent, status, attempts", [
    ("451 4.3.0 try again later", 1, "sent", 2),       # a 4xx is transient: retried, then delivered
    ("554 5.7.1 message refused", 0, "failed", 1),    # a 5xx is permanent: not retried
])
def test_an_smtp_4xx_is_retried_and_a_5xx_is_not(make_service, smtp, smtp_ca, tmp_path, reply, sent, status,
                                                 attempts):
    smtp.mailbox.replies = [reply]
    settings = mail_settings(smtp.port, smtp_ca[1], tmp_path)
    service = make_service(settings, notifiers=build_notifiers(settings))
    service.ingest(anomaly(0), now=T0)
    for t in (0, 10, 100):
        service.tick(T0 + t)
    assert len(smtp.mailbox.messages) == sent
    [page] = [e for e in service.outbox.entries(FP) if e.action == "send"]
    assert (page.status, page.attempts) == (status, attempts)


def test_a_wrong_password_is_permanent_and_never_shown(make_service, smtp, smtp_ca, tmp_path):
    settings = mail_settings(smtp.port, smtp_ca[1], tmp_path, password="wrong-password-123")
    service = make_service(settings, notifiers=build_notifiers(settings))
    service.ingest(anomaly(0), now=T0)
    service.tick(T0)
    service.tick(T0 + 100)
    [page] = [e for e in service.outbox.entries(FP) if e.action == "send"]
    assert (page.status, page.attempts, page.error) == ("failed", 1, "email: SMTP 535")
    assert "wrong-password" not in str(service.store.audit(FP)) and smtp.mailbox.messages == []


def test_a_server_without_starttls_gets_no_password_and_no_page(make_service, smtp_ca, tmp_path):
    plain = SmtpServer(smtp_ca[0], starttls=False)
    try:
        settings = mail_settings(plain.port, smtp_ca[1], tmp_path)
        service = make_service(settings, notifiers=build_notifiers(settings))
        service.ingest(anomaly(0), now=T0)
        service.tick(T0)
    finally:
        plain.close()
    assert plain.mailbox.messages == []
    [page] = [e for e in service.outbox.entries(FP) if e.action == "send"]
    assert page.status == "failed" and "does not offer STARTTLS" in page.error


def test_an_email_target_needs_recipients():
    with pytest.raises(ValueError, match="targets.mail.to: an email target needs at least one recipient"):
        two_level_settings(targets={"mail": TargetSettings(type="email")},
                           policies={"default": PolicySettings(levels=[LevelSettings(["mail"])])})
