"""Secrets and injection strings that producers put in labels and values, and what must never come out of them.

``SECRETS``: (name, text as a producer sends it, fragments that must appear in no output). Fragments are the secret
parts only, so a test can search every channel (Slack bodies, PagerDuty bodies, console, outbox file, logs) for them.
``INJECTIONS``: (name, text, strings that must not appear in what Slack receives).
"""
from __future__ import annotations

ZW, ZWNJ, RLO = "\u200b", "\u200c", "\u202e"

SECRETS: list[tuple[str, str, list[str]]] = [
    ("e-mail", "contact bob.smith+llm@example.co.uk", ["bob.smith+llm@example.co.uk", "bob.smith"]),
    ("OpenAI key", "key sk-proj-Abc123Def456Ghi789Jkl0", ["Abc123Def456Ghi789Jkl0"]),
    ("Anthropic key", "sk-ant-api03-ZyXwVuTsRqPoNmLkJiHg", ["ZyXwVuTsRqPoNmLkJiHg"]),
    ("OpenAI key split by zero-width characters", f"sk-{ZW}abcdefghij{ZWNJ}klmnopqrstuv",
     ["abcdefghij", "klmnopqrstuv"]),
    ("AWS access key id", "AKIAIOSFODNN7EXAMPLE", ["IOSFODNN7EXAMPLE"]),
    ("AWS key id behind a bidi override", f"AKIA{RLO}IOSFODNN7EXAMPLF", ["IOSFODNN7EXAMPLF"]),
    ("AWS secret key, env style", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     ["wJalrXUtnFEMI"]),
    ("AWS secret key, YAML style", 'AWS_SECRET_ACCESS_KEY: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"',
     ["je7MtGbClwBF"]),
    ("JSON password", '{"user": "bob", "password": "correct horse battery staple"}', ["correct horse", "staple"]),
    ("JSON api_key, no spaces", '{"api_key":"Zq8vB2nW5xR1tY7u"}', ["Zq8vB2nW5xR1tY7u"]),
    ("JSON inside a JSON string", '{\\"client_secret\\": \\"Qm9iIGlzIGEgc2VjcmV0\\"}', ["Qm9iIGlzIGEgc2VjcmV0"]),
    ("password=", "db password=hunter2-Very-Secret; retry", ["hunter2"]),
    ("URL with a password", "postgres://app:s3cr3tPassw0rd@db.internal:5432/app", ["s3cr3tPassw0rd"]),
    ("Stripe live key", "sk_live_51H8abcdEFGHijklMNOPqrstUVwx", ["51H8abcdEFGHijklMNOPqrstUVwx"]),
    ("Stripe restricted key", "rk_live_4eC39HqLyjWDarjtT1zdp7dc", ["4eC39HqLyjWDarjtT1zdp7dc"]),
    ("Google API key", "AIzaSyA-1234567890abcdefghijklmnopqrstu", ["1234567890abcdefghijklmnopqrstu"]),
    ("Authorization: Basic", "Authorization: Basic dXNlcjpwYXNzd29yZA==", ["dXNlcjpwYXNzd29yZA"]),
    ("Authorization: Bearer", "authorization: Bearer Tk9UQV9SRUFMX1RPS0VO.abc", ["Tk9UQV9SRUFMX1RPS0VO"]),
    ("bare bearer token", "sent Bearer mF_9.B5f-4.1JqM to the API", ["mF_9.B5f-4.1JqM"]),
    ("PEM private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75bodyOfTheKey\n"
                        "-----END RSA PRIVATE KEY-----", ["MIIEpAIBAAKCAQEA75bodyOfTheKey", "PRIVATE KEY"]),
    ("PEM private key, cut off", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5v",
     ["b3BlbnNzaC1rZXktdjEAAAAABG5v"]),
    ("Slack bot token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", ["AbCdEfGhIjKlMnOp"]),
    ("GitHub token", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", ["aBcDeFgHiJkLmNoPqRsTuVwXyZ"]),
    ("JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.dBjftJeZ4CVPmB92K27uhbUJU1p1r", ["eyJzdWIiOiJib2IifQ"]),
    ("card number", "card 4111 1111 1111 1111 declined", ["4111 1111 1111 1111"]),
    ("secret wrapped in ANSI colour", "\x1b[31msk-live\x1b[0mABCDEFGHIJKLMNOPQRST", ["ABCDEFGHIJKLMNOPQRST"]),
]

INJECTIONS: list[tuple[str, str, list[str]]] = [
    ("channel mention", "<!channel> wake up", ["<!channel>"]),
    ("user mention", "<@U0ADMIN> approve", ["<@U0ADMIN>"]),
    ("disguised link", "<https://evil.example/login|Open the runbook>", ["<https://evil.example"]),
    ("backtick closes the code span", "x` *BOLD* <https://evil.example|y> `", ["*BOLD*", "x`", "<https://evil"]),
    ("newline forges a line", "ok\n*FAKE: resolved by @admin*", ["\n*FAKE", "*FAKE"]),
    ("CRLF forges a line", "ok\r\n:white_check_mark: resolved by admin", ["\r", "\n:white_check_mark: resolved by"]),
    ("line separator forges a line", "ok\u2028*FAKE*", ["\u2028", "*FAKE*"]),
    ("strikethrough", "~not an outage~", ["~not an outage~"]),
    ("italic", "_ignore this_", ["_ignore this_"]),
    ("ANSI clear screen", "\x1b[2J\x1b[31mred alert", ["\x1b", "[2J"]),
    ("OSC hyperlink", "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07", ["\x1b", "8;;https"]),
    ("bidi reorder", f"checkout{RLO}gnillib", [RLO]),
]
