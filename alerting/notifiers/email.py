"""Email over SMTP (smtplib): STARTTLS, then AUTH with the credentials from the environment, one message per page.

The first page of an episode gets a Message-ID made from its idempotency key; every later message (escalated,
acknowledged, resolved...) answers it (``In-Reply-To``/``References``), so mail clients show one conversation per
episode. A message re-sent after a crash (the engine died between the server's 250 and recording it) has the same
Message-ID, which lets mail systems drop the copy. Without STARTTLS offered by the server nothing is sent (unless
``email.starttls`` is false): the password and the page would travel in clear text.

SMTP replies tell retry from give-up: 4xx (and connection trouble) is retryable, 5xx (bad credentials, refused
recipients) is permanent. The password never appears in an error.
"""
from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Callable

from inferwatch.alerting import templates
from inferwatch.alerting.config import AlertingSettings, EmailSettings, TargetSettings
from inferwatch.alerting.notifiers.base import Notification, NotifierError

MESSAGE_ID_DOMAIN = "inferwatch"


def message_id(idempotency_key: str) -> str:
    """The Message-ID of a message: the same for every attempt of it.

    >>> message_id("fp/1/r0/l0/mail")
    '<82cdf781747d06d1e2b4a32eebda5b0b@inferwatch>'
    """
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{MESSAGE_ID_DOMAIN}>"


class EmailNotifier:
    def __init__(self, settings: EmailSettings, recipients: list[str],
                 links: templates.PageLinks = templates.PageLinks(),
                 connect: Callable[..., smtplib.SMTP] = smtplib.SMTP) -> None:
        self.settings = settings
        self.recipients = list(recipients)
        self.links = links
        self.connect = connect

    @classmethod
    def from_settings(cls, target: TargetSettings, settings: AlertingSettings) -> "EmailNotifier":
        return cls(settings.email, target.to, templates.PageLinks.of(settings))

    def send(self, notification: Notification) -> dict[str, Any]:
        msg_id = message_id(notification.idempotency_key)
        self._deliver(self._message(notification, msg_id))
        return {"message_id": msg_id}

    def update(self, notification: Notification, ref: dict[str, Any]) -> dict[str, Any]:
        msg = self._message(notification, message_id(notification.idempotency_key))
        first = ref.get("message_id")
        if first:
            msg["In-Reply-To"] = msg["References"] = first
            msg.replace_header("Subject", f"Re: {msg['Subject']}")
        self._deliver(msg)
        return ref

    resolve = update

    def _message(self, n: Notification, msg_id: str) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = templates.email_subject(n.alert)
        msg["From"] = self.settings.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = msg_id
        msg["X-Inferwatch-Fingerprint"] = n.alert.fingerprint
        msg.set_content(templates.email_text(n.alert, n.event, n.actor, self.links))
        return msg

    def _deliver(self, msg: EmailMessage) -> None:
        s = self.settings
        try:
            with self.connect(s.host, s.port, timeout=s.timeout_s) as smtp:
                smtp.ehlo()
                if s.starttls:
                    if not smtp.has_extn("starttls"):
                        raise NotifierError("email: the SMTP server does not offer STARTTLS", retryable=False)
                    smtp.starttls(context=ssl.create_default_context(cafile=s.ca_file or None))
                    smtp.ehlo()
                if s.username:
                    smtp.login(s.username, s.password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise NotifierError(f"email: recipients refused ({', '.join(map(str, sorted(set(codes))))})",
                                retryable=all(400 <= c < 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            raise NotifierError(f"email: SMTP {exc.smtp_code}", retryable=400 <= exc.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, TLS failures, timeouts, refused connections
            raise NotifierError(f"email: {type(exc).__name__}", retryable=True) from None
