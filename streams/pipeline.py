"""From one raw telemetry message to anomaly records and dead-letter rejections: the worker's per-message step.

It is plain synchronous code with no Kafka in it, so the Faust agent, ``inferwatch replay`` and the tests run the
very same step. The event-time watermark lives here: it is the largest event time seen, and the detection engine is
told about it whenever it crosses a new ``advance_every_s`` boundary, so silence and traffic detectors fire in event
time, identically online and offline for the same sequence of messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from streams.schema import DEFAULT_MAX_MESSAGE_BYTES, Rejection, decode_message

NS = 1_000_000_000


class Engine(Protocol):
    def process(self, event: dict) -> list[dict]: ...

    def advance(self, watermark_ns: int) -> list[dict]: ...


@dataclass
class Outcome:
    anomalies: list[dict] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    events: int = 0


class TelemetryPipeline:
    """Validate a message, feed its events to the engine in order, and advance the event-time watermark."""

    def __init__(self, engine: Engine, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 advance_every_s: float = 10.0) -> None:
        self.engine = engine
        self.max_message_bytes = max_message_bytes
        self.advance_every_ns = int(advance_every_s * NS)
        self.watermark_ns = 0
        self._advanced_to = 0

    def handle(self, raw: bytes) -> Outcome:
        events, rejections = decode_message(raw, self.max_message_bytes)
        outcome = Outcome(rejections=rejections, events=len(events))
        for event in events:
            outcome.anomalies += self.engine.process(event)
            t = event["time_unix_nano"]
            if t > self.watermark_ns:
                self.watermark_ns = t
                if t - self._advanced_to >= self.advance_every_ns:
                    outcome.anomalies += self.advance(t)
        return outcome

    def advance(self, watermark_ns: int) -> list[dict]:
        """Move event time forward (also used by the worker when traffic stops altogether)."""
        self.watermark_ns = max(self.watermark_ns, watermark_ns)
        self._advanced_to = self.watermark_ns - self.watermark_ns % self.advance_every_ns
        return self.engine.advance(self.watermark_ns)
