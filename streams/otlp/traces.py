"""Spans of one trace gathered until the trace is complete, so a call event can carry the request's stage durations.

Spans of one trace arrive in several messages and out of order (each service exports its own batches, and a
Collector batches again). A trace is held from its first span that matters (a GenAI call, a stage, an evaluation)
until its local root span arrives: the span without a parent, or whose parent is in another process. Children end
before their parent and SDKs export spans as they end, so by then the trace's spans have normally been seen.

The call events of a complete trace are emitted with ``app.stage.<stage>.duration`` on its main call (the last
model call to end that is not an embedding or rerank): per stage, the wall time covered by its spans (overlapping
spans, such as parallel retrievals, count once). Stages go on one event per request, so a request with three LLM
calls adds one request's stages, not three.

Bounded wait and memory, and what happens to traces that never complete:

- a trace whose root has not come ``wait_s`` (setting ``otlp.trace_wait_s``) of event time after its last span
  (event time = the largest span end seen here), or ``wait_s`` of wall time after its last span arrived (for when
  traffic stops), is emitted *without* stages, counted ``timed_out``;
- beyond ``max_traces`` (``otlp.max_traces``) held traces, the oldest is emitted the same way, counted ``evicted``;
- a span arriving after its trace was emitted starts the trace anew: a late call is emitted on its own after the
  wait, a late stage span is dropped;
- held traces live in memory only: a worker that crashes loses the calls of the traces it held (at most about
  ``wait_s`` of traffic); a replay of the same input rebuilds them.

>>> from inferwatch.streams.otlp.decode import Span
>>> def span(span_id, parent, start, end, **attrs):
...     return Span("t1" * 16, span_id, parent, False, span_id, start * 10**9, end * 10**9, 0, "", attrs,
...                 {"service.name": "rag"}, ())
>>> llm = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m"}
>>> traces = TraceAssembler(["retrieval", "inference"], clock=lambda: 0.0)
>>> traces.add([span("b1", "a1", 10, 12, **{"openinference.span.kind": "RETRIEVER"}), span("c1", "a1", 12, 15, **llm)])
[]
>>> [event] = traces.add([span("a1", "", 10, 16)])
>>> event["app.stage.retrieval.duration"], event["app.stage.inference.duration"], sorted(traces.stats.items())
(2.0, 3.0, [('call_spans', 1), ('complete', 1), ('other_spans', 1), ('stage_spans', 2)])
"""
from __future__ import annotations

import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from inferwatch.streams.config import OtlpSettings
from inferwatch.streams.otlp.decode import Span
from inferwatch.streams.otlp.genai import EVALUATION_EVENT, NS, call_event, evaluation_events, stage_of

#: the ``otlp`` section's defaults (``trace_wait_s``, ``max_traces``), for converters built without settings
DEFAULT_WAIT_S = OtlpSettings.trace_wait_s
DEFAULT_MAX_TRACES = OtlpSettings.max_traces
#: spans kept per held trace; more (a runaway agent loop) are counted and not kept
MAX_SPANS_PER_TRACE = 1_000
#: calls that are not the request's answer, so never carry its stages when another call is there
SIDE_OPERATIONS = frozenset({"embeddings", "rerank"})
STAGE_FIELD = "app.stage.{}.duration"


@dataclass
class _Trace:
    #: (call span, its event)
    calls: list = field(default_factory=list)
    #: stage -> [(start_ns, end_ns)]
    stages: dict = field(default_factory=dict)
    #: spans with evaluation events that are not calls themselves (judged against the main call)
    judged: list = field(default_factory=list)
    last_end_ns: int = 0
    arrived: float = 0.0
    spans: int = 0


class TraceAssembler:
    """``add(spans)`` returns the events of the traces those spans completed (or pushed out); ``expire()`` those
    of traces that waited too long; ``drain()`` everything held (end of input)."""

    def __init__(self, stages: Iterable[str], wait_s: float = DEFAULT_WAIT_S, max_traces: int = DEFAULT_MAX_TRACES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stages = tuple(stages)
        self.wait_s = wait_s
        self.max_traces = max_traces
        self.clock = clock
        self.event_time_ns = 0
        self.stats: Counter = Counter()
        self._traces: OrderedDict[str, _Trace] = OrderedDict()

    def __len__(self) -> int:
        return len(self._traces)

    def add(self, spans: Iterable[Span]) -> list[dict]:
        out: list[dict] = []
        now = self.clock()
        for span in spans:
            if span.end_ns > self.event_time_ns:
                self.event_time_ns = span.end_ns
            out += self._add(span, now)
        out += self.expire()
        return out

    def _add(self, span: Span, now: float) -> list[dict]:
        call = call_event(span)
        stage = stage_of(span, self.stages)
        judged = call is None and any(e.name == EVALUATION_EVENT for e in span.events)
        self.stats["call_spans"] += call is not None
        self.stats["stage_spans"] += stage is not None
        self.stats["other_spans"] += call is None and stage is None
        trace = self._traces.get(span.trace_id)
        if trace is None:
            if call is None and stage is None and not judged:
                return []  # nothing of this trace is held and this span adds nothing: not a GenAI trace
            if span.is_local_root and call is not None:  # a call that is a whole request on its own
                self.stats["complete"] += 1
                return _emit(_Trace(calls=[(span, call)], stages={stage: [(span.start_ns, span.end_ns)]}
                                    if stage else {}), with_stages=True)
            trace = self._traces[span.trace_id] = _Trace()
            if len(self._traces) > self.max_traces:
                _, oldest = self._traces.popitem(last=False)
                self.stats["evicted"] += 1
                return self._hold(trace, span, call, stage, judged, now) + _emit(oldest, with_stages=False)
        else:
            self._traces.move_to_end(span.trace_id)
        return self._hold(trace, span, call, stage, judged, now)

    def _hold(self, trace: _Trace, span: Span, call, stage, judged: bool, now: float) -> list[dict]:
        trace.spans += 1
        if trace.spans > MAX_SPANS_PER_TRACE:
            self.stats["spans_over_limit"] += 1
        else:
            if call is not None:
                trace.calls.append((span, call))
            if stage is not None:
                trace.stages.setdefault(stage, []).append((span.start_ns, span.end_ns))
            if judged:
                trace.judged.append(span)
        trace.last_end_ns = max(trace.last_end_ns, span.end_ns)
        trace.arrived = now
        if not span.is_local_root:
            return []
        del self._traces[span.trace_id]
        self.stats["complete"] += 1
        return _emit(trace, with_stages=True)

    def expire(self) -> list[dict]:
        """Emit, without stages, the traces whose root did not come within the wait (oldest first)."""
        out: list[dict] = []
        now = self.clock()
        wait_ns = int(self.wait_s * NS)
        while self._traces:
            trace_id, trace = next(iter(self._traces.items()))
            if trace.last_end_ns + wait_ns > self.event_time_ns and trace.arrived + self.wait_s > now:
                break
            del self._traces[trace_id]
            self.stats["timed_out"] += 1
            out += _emit(trace, with_stages=False)
        return out

    def drain(self) -> list[dict]:
        """Everything still held, without stages (the input ended: no more spans will come)."""
        out: list[dict] = []
        while self._traces:
            _, trace = self._traces.popitem(last=False)
            self.stats["timed_out"] += 1
            out += _emit(trace, with_stages=False)
        return out


def _emit(trace: _Trace, with_stages: bool) -> list[dict]:
    if not trace.calls:
        return []
    events = [event for _, event in trace.calls]
    main_span, main = max(trace.calls, key=lambda c: (c[1]["gen_ai.operation.name"] not in SIDE_OPERATIONS,
                                                       c[0].end_ns))
    if with_stages:
        for stage, intervals in trace.stages.items():
            main[STAGE_FIELD.format(stage)] = covered_ns(intervals) / NS
    for span, event in trace.calls:
        events += evaluation_events(span, event)
    for span in trace.judged:
        events += evaluation_events(span, main)
    return events


def covered_ns(intervals: list[tuple[int, int]]) -> int:
    """Length of the union of ``[start, end)`` intervals.

    >>> covered_ns([(0, 10), (5, 12), (20, 25)])
    17
    """
    total = 0
    reach = None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total
