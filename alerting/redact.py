"""Make untrusted text (anything that came from an event: labels, exemplars, prompts) safe to show a human.

Two separate concerns: *redaction* removes personal data and secrets wherever text leaves the engine (Slack, PagerDuty,
console); *Slack escaping* turns ``&``, ``<``, ``>`` into entities so text cannot become ``<!channel>``, a ``<@U…>``
mention or a disguised link.

>>> redact("mail bob@example.com key sk-abcdefghijklmnopqrstuv")
'mail [email] key [secret]'
>>> for_slack("<!channel> ping a&b")
'&lt;!channel&gt; ping a&amp;b'
"""
from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SECRET = re.compile(
    r"\b(?:sk-[A-Za-z0-9_-]{16,}"            # OpenAI-style API keys
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"        # Slack tokens
    r"|gh[pousr]_[A-Za-z0-9]{20,}"           # GitHub tokens
    r"|AKIA[0-9A-Z]{16}"                     # AWS access key ids
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+"  # JWTs
    r")"
)
_BEARER = re.compile(r"(?i)\b(bearer|token|password|passwd|secret|api[_-]?key)(\s*[:=]\s*|\s+)\S+")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")

#: cap on any one untrusted value, so a huge prompt cannot blow Slack's 3000-char section limit
MAX_VALUE_CHARS = 300


def redact(text: object) -> str:
    """Replace e-mail addresses, secret-looking tokens and card-like numbers with placeholders."""
    out = str(text)
    out = _SECRET.sub("[secret]", out)
    out = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}[secret]", out)
    out = _EMAIL.sub("[email]", out)
    out = _CARD.sub("[number]", out)
    if len(out) > MAX_VALUE_CHARS:
        out = out[: MAX_VALUE_CHARS - 1] + "…"
    return out


def escape_slack(text: str) -> str:
    """Slack's three control characters as entities (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def for_slack(text: object) -> str:
    """Redacted, then escaped: the only way record-derived text may enter a Slack message."""
    return escape_slack(redact(text))
