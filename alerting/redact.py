"""The one redaction and escaping layer for text that leaves the process (Slack, PagerDuty, console, outbox, logs, CLI).

Untrusted text (anything that came from an event: labels, exemplars, prompts) goes through three steps:

1. *cleaning*: ANSI escape sequences, invisible characters (zero-width, bidi controls, tag characters) and other
   control characters are removed, so nothing can hide a secret from step 2 (``sk-\\u200bproj…``), recolour or clear a
   terminal, or reorder what a reader sees; in one-line text, line breaks become spaces so nothing can forge a line;
2. *redaction*: private keys, credentials (``Authorization`` headers, ``password=…``/``"api_key": "…"`` pairs, URL
   passwords), API tokens (OpenAI, Stripe, Google, AWS, Slack, GitHub, GitLab, Hugging Face, JWTs), e-mail
   addresses and card numbers become placeholders;
3. *Slack escaping* (Slack output only): ``&``, ``<``, ``>`` as entities (no ``<!channel>``, ``<@U…>`` or disguised
   links), backticks that cannot close a code span, and ``*``/``_``/``~`` that cannot start formatting.

>>> redact("mail bob@example.com key sk-abcdefghijklmnopqrstuv")
'mail [email] key [secret]'
>>> redact('{"password": "hunter2 is long", "user": "bob"}')
'{"password": "[secret]", "user": "bob"}'
>>> redact("ok\\n*FAKE: resolved by @admin*\\x1b[31m")
'ok *FAKE: resolved by @admin*'
>>> for_slack("<!channel> ping a&b *bold* `code`")
'&lt;!channel&gt; ping a&amp;b ∗bold∗ ˋcodeˋ'
"""
from __future__ import annotations

import logging
import re

# ----------------------------------------------------------------------------------------------------- cleaning

#: CSI (``ESC [ … final``), OSC (``ESC ] … BEL|ST``), two-byte escapes, and the 8-bit CSI
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
#: characters that render as nothing: soft hyphen, zero-width, bidi controls, invisible fillers, variation selectors,
#: BOM, interlinear annotations and the tag block (invisible "ASCII smuggling")
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e0fff]")
#: the same characters (and colour codes) as ``repr`` shows them, since log messages format values with ``%r``
_ESCAPED_INVISIBLE = re.compile(r"\\(?:u(?:00ad|061c|200[b-f]|202[a-e]|206[0-9a-f]|feff)|xad|U000e0[0-9a-f]{3}"
                                r"|(?:x1b|u001b|033)\[[0-?]*[ -/]*[@-~])")
#: C0/C1 controls and DEL, except tab and newline (kept in multi-line text)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: everything that starts a new line somewhere (terminals, Slack, log viewers), and tabs
_LINE_BREAK = re.compile(r"[\t\n\x0b\x0c\r\x1c-\x1e\x85\u2028\u2029]")

# ---------------------------------------------------------------------------------------------------- redaction

_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
                          r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.DOTALL)
#: ``Authorization: Basic …`` (header or JSON); the scheme is kept, the credentials go
_AUTHORIZATION = re.compile(r"""(?i)\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:([a-z][\w-]*)\s+)?"""
                            r"""[^\s"']+""")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@")
#: ``key=value`` / ``"key": "value"`` where the key names a credential (a whole ``_.-``-separated part of it)
_SECRET_KEY = (r"(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key"
               r"|access[_-]?token|refresh[_-]?token|auth[_-]?token|id[_-]?token|client[_-]?secret|credentials?"
               r"|session[_-]?id|cookie)")
_KEY_VALUE = re.compile(
    r"""(?i)(?<![\w])((?:[\w]*[_.-])?""" + _SECRET_KEY + r"""(?:[_.-][\w.-]*)?\\*["']?\s*[:=]\s*)"""
    r"""(\\+"(?:(?!\\+").)*\\+"|"(?:[^"\\]|\\.)*"?|'[^']*'?"""                # quoted (also escaped quotes)
    r"""|(?:(?:bearer|basic|token)\s+)?[^\s,;&"'}\]\[][^\s,;&"'}\]]*)""")       # bare, maybe after a scheme
_QUOTE = re.compile(r"\\*[\"']")
_TOKEN = re.compile(
    r"(?<![\w-])(?:"
    r"sk-[A-Za-z0-9_-]{16,}"                             # OpenAI, Anthropic (sk-ant-…)
    r"|[rsp]k_(?:live|test)_[A-Za-z0-9]{10,}"             # Stripe
    r"|AIza[0-9A-Za-z_-]{30,}"                            # Google API keys
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}"  # AWS access key ids
    r"|xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"  # Slack
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"                          # GitLab
    r"|hf_[A-Za-z0-9]{30,}"                               # Hugging Face
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*"  # JWTs (also without signature)
    r")"
)
#: a bare ``Bearer …`` / ``Basic …`` credential (``Basic`` only when what follows looks like base64, not a word)
_SCHEME = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
                     r"|\b(basic\s+)(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")

#: cap on any one untrusted value, so a huge prompt cannot blow Slack's 3000-char section limit
MAX_VALUE_CHARS = 300
#: cap on one log message (tracebacks are not capped)
MAX_LOG_CHARS = 8000
#: how much more than its cap of a text is scanned for secrets (redaction shrinks text; the rest is never shown)
SCAN_FACTOR = 4


def clean(text: object, *, one_line: bool = True) -> str:
    """Text without escape sequences, invisible characters or controls; one line unless ``one_line=False``.

    >>> clean("a\\u200bb\\u202ec\\x1b[2Jd\\r\\ne\\x00")
    'abcd  e'
    >>> clean("a\\n\\tb\\r", one_line=False)
    'a\\n\\tb'
    """
    out = _ESCAPED_INVISIBLE.sub("", _INVISIBLE.sub("", _ANSI.sub("", str(text))))
    return _CONTROL.sub("", _LINE_BREAK.sub(" ", out) if one_line else out)


def redact_secrets(text: str) -> str:
    """The secrets and personal data of (already cleaned) text replaced with placeholders; nothing else changes.

    >>> redact_secrets("Authorization: Basic dXNlcjpwYXNzd29yZA== aws_secret_access_key=wJalrXUtnFEMI/K7MDENG")
    'Authorization: Basic [secret] aws_secret_access_key=[secret]'
    >>> redact_secrets("the basic plan, max_tokens=512, AKIAIOSFODNN7EXAMPLE")
    'the basic plan, max_tokens=512, [secret]'
    """
    out = _PRIVATE_KEY.sub("[private key]", text)
    out = _AUTHORIZATION.sub(lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}[secret]", out)
    out = _URL_PASSWORD.sub(r"\1[secret]@", out)
    out = _KEY_VALUE.sub(_secret_value, out)
    out = _TOKEN.sub("[secret]", out)
    out = _SCHEME.sub(lambda m: f"{m.group(1) or m.group(2)}[secret]", out)
    out = _EMAIL.sub("[email]", out)
    return _CARD.sub("[number]", out)


def _secret_value(m: re.Match[str]) -> str:
    value = m.group(2)
    quote = _QUOTE.match(value)  # keep the value's quoting (also escaped, as in JSON inside JSON)
    return f"{m.group(1)}{quote.group() if quote else ''}[secret]{quote.group() if quote else ''}"


def redact(text: object) -> str:
    """One line of untrusted text, safe for a human to read anywhere: cleaned, redacted and capped.

    >>> redact("x" * 400)[-3:], len(redact("word " * 1000))
    ('xx…', 300)
    """
    return _redact_bounded(str(text), SCAN_FACTOR * MAX_VALUE_CHARS, MAX_VALUE_CHARS)


def _redact_bounded(text: str, scan_chars: int, max_chars: int) -> str:
    """Redacted, then capped at ``max_chars``. Only the first ``scan_chars`` are looked at (the rest would be cut
    anyway, and a 300 KB prompt costs 0.3 s to scan); where that cut went through a word, the word is not shown: it
    may be the first half of a secret too short to recognise."""
    cut = len(text) > scan_chars
    out = redact_secrets(clean(text[:scan_chars]))
    if cut:
        out = out[: out.rfind(" ") + 1]
    if cut or len(out) > max_chars:
        out = out[: max_chars - 1] + "…"
    return out


# ------------------------------------------------------------------------------------------------ Slack escaping

#: look-alikes that Slack does not treat as formatting; a backtick can then never close a code span
_MRKDWN = str.maketrans({"`": "ˋ", "*": "∗", "~": "∼"})
#: an underscore formats only at a word's edge (``_x_``); inside ``gen_ai.request`` it stays as is
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def escape_slack(text: str) -> str:
    """Slack's three control characters as entities (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralise_mrkdwn(text: str) -> str:
    """Backticks, ``*`` and ``~`` as look-alikes, edge underscores as fullwidth ones: no formatting, no code span end.

    >>> neutralise_mrkdwn("x` *bold* _it_ ~s~ gen_ai.request")
    'xˋ ∗bold∗ ＿it＿ ∼s∼ gen_ai.request'
    """
    return _EDGE_UNDERSCORE.sub("＿", text.translate(_MRKDWN))


def for_slack(text: object) -> str:
    """Redacted, escaped and unformattable: the only way record-derived text may enter Slack mrkdwn."""
    return neutralise_mrkdwn(escape_slack(redact(text)))


def code_span(text: object) -> str:
    """Record-derived text as an inline code span that nothing inside can close (and, should a client end it early,
    nothing inside can format either).

    >>> code_span("a` *b* <!here>")
    '`aˋ ∗b∗ &lt;!here&gt;`'
    """
    return f"`{for_slack(text) or ' '}`"


# ------------------------------------------------------------------------------------------------------- logging

class RedactingFilter(logging.Filter):
    """Redacts a log record in place: its message (arguments merged, one line, capped) and its traceback text.

    Installed on the log record factory by ``install_log_redaction``, so it holds for every handler, including
    those a framework (Faust's worker) installs after us.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging itself would report it; show the template
            message = f"{record.msg} {record.args!r}"
        # args () not None: Faust's formatter wraps a non-tuple in a tuple and formats again ("msg" % (None,) raises)
        record.msg, record.args = _redact_bounded(message, SCAN_FACTOR * MAX_LOG_CHARS, MAX_LOG_CHARS), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(clean(record.exc_text, one_line=False))
        if record.stack_info:
            record.stack_info = redact_secrets(clean(record.stack_info, one_line=False))
        record._redacted = True
        return True


def install_log_redaction() -> None:
    """Make every log record of this process redacted as it is created (idempotent)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacting", False):
        return
    redactor = RedactingFilter()

    def make_record(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        redactor.filter(record)
        return record

    make_record.redacting = True  # type: ignore[attr-defined]
    make_record.wrapped = factory  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)


def uninstall_log_redaction() -> None:
    """Undo ``install_log_redaction`` (tests)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacting", False):
        logging.setLogRecordFactory(factory.wrapped)  # type: ignore[attr-defined]
