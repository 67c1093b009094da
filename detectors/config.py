"""Typed settings of the detector set (the ``detectors:`` section of the config file)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DetectorSettings:
    #: event fields that make up a series key; one baseline is learned per distinct combination
    series_key: list[str] = field(
        default_factory=lambda: ["service.name", "gen_ai.provider.name", "gen_ai.request.model"]
    )
