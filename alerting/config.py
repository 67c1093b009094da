"""Typed settings of the escalation engine (the ``alerting:`` section of the config file)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class AlertingSettings:
    #: environment variables that override keys of this section (merged into streams.config.ENV_OVERRIDES)
    ENV_OVERRIDES: ClassVar[dict[str, str]] = {}

    #: where alerts go when no Slack/PagerDuty credentials are set
    outbox_path: str = ".run/outbox.jsonl"
