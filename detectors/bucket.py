"""What one series saw in one event-time bucket: counts and sums, never raw events, so state stays bounded.

This is the hot path: ``add_sums`` runs once per event and series and does only additions (what every series sums of
a call, its logs included, is worked out once per event by ``call_values``); detectors run once per closed bucket on
window sums of these. What a bucket sums per call is declared once, in ``ACCUMULATORS``: the slots, their zeros and the
registry's per-call signals (field, offset, which signals extra series can watch) are derived from it; the add code
is written out (a loop over the table costs a third more per event, a list behind the slot names 20x per read), and
tests/detectors/test_bucket.py checks it against every row. Per-value tallies (error types, languages, tenants...) keep at most ``MAX_VALUES`` distinct
values per bucket, the rest count as ``OTHER``. ``CallBucket`` sums what the call-level signals need (calls, errors,
latency, exemplars, contributors): the extra series (tenants, routes) use it, as they are many and watched on few
signals. ``Bucket`` adds what the other signals need (sizes, stages, safety flags, input mixes and embeddings,
variants, SLOs, evaluations and feedback).

>>> b = Bucket(stages=["inference"], categorical=["app.input.language"], contributors=["app.tenant.id"])
>>> b.add({"event.id": "a", "gen_ai.client.operation.duration": 2.0, "error.type": None, "app.input.language": "en",
...        "app.stage.inference.duration": 1.5, "app.tenant.id": "t1", "app.input.embedding": [0.5, -1.0]}, 3)
>>> b.add({"event.id": "b", "gen_ai.client.operation.duration": 8.0, "error.type": "timeout", "app.tenant.id": "t1",
...        "app.input.embedding": [0.25, 0.0]}, 3)
>>> b.calls, b.errors, b.error_types, b.latency_n, b.slow, b.categories[0], b.contributors[0]
(2, 1, {'timeout': 1}, 1, [(2.0, 'a')], {'en': 1}, {'t1': [2, 1]})
>>> b.stage_n, b.stage_sums, b.embedding_n, b.embedding_sum
([1], [1.5], 2, [0.75, -1.0])
>>> c = CallBucket(contributors=[])
>>> c.add({"event.id": "a", "gen_ai.client.operation.duration": 2.0, "error.type": None, "app.input.language": "en"}, 3)
>>> c.calls, c.latency_n, c.slow, hasattr(c, "categories")
(1, 1, [(2.0, 'a')], False)
>>> c.add({"event.id": "b", "gen_ai.usage.input_tokens": 99, "app.cost.usd": 0.01, "error.type": None}, 3)
>>> c.input_tokens_n, round(c.input_tokens_log, 3), c.cost_n
(1, 4.605, 1)
>>> [a.name for a in ACCUMULATORS if a.kind == "log_sum" and not a.call_level]
['ttfc', 'input_chars']
"""
from __future__ import annotations

import functools
import math
import sys
from operator import add
from typing import NamedTuple

from inferwatch.detectors.pickling import Slotted

MAX_VALUES = 32
OTHER = "__other__"
SAFETY_FLAGS = ("app.safety.prompt_injection", "app.safety.pii_detected", "app.safety.blocked", "app.safety.refusal")
#: added to a stage duration (seconds) before its log, so a stage that takes no time has a finite log
STAGE_OFFSET = 1e-3
#: outcome pairs (features, score) kept per bucket for the concept-drift model
MAX_OUTCOMES = 64
_log = math.log


class Accumulator(NamedTuple):
    """One number a bucket sums per call. A ``count`` is the slot ``<name>``; a ``log_sum`` (a positive size judged on
    its log: a shift is a ratio) is ``<name>_n`` (count) and ``<name>_log`` (sum of ``log(value + offset)``)."""

    name: str
    kind: str  #: "count" or "log_sum"
    field: str | None  #: the event field it reads (None: every call)
    signals: tuple[str, ...]  #: the window signals judged on it
    #: summed by every bucket (``CallBucket``: tenant and route series watch it too), else by ``Bucket`` only
    call_level: bool = True
    offset: float = 0.0  #: added before the log, so a zero has a finite log
    #: a failed call's value is its timeout or fast failure (or nothing written), not the service's: left out
    succeeded_only: bool = False


#: everything summed per call, in slot order (call-level first): the one place a field, its offset and its signals live
ACCUMULATORS = (
    Accumulator("calls", "count", None, ("traffic", "errors")),
    Accumulator("errors", "count", "error.type", ("errors",)),
    Accumulator("latency", "log_sum", "gen_ai.client.operation.duration", ("latency",), offset=1e-3,
                succeeded_only=True),
    Accumulator("input_tokens", "log_sum", "gen_ai.usage.input_tokens", ("input_tokens",), offset=1.0),
    Accumulator("output_tokens", "log_sum", "gen_ai.usage.output_tokens", ("output_tokens",), offset=1.0,
                succeeded_only=True),
    Accumulator("cost", "log_sum", "app.cost.usd", ("cost",), offset=1e-5),
    Accumulator("ttfc", "log_sum", "gen_ai.response.time_to_first_chunk", ("ttfc",), call_level=False, offset=1e-3),
    Accumulator("input_chars", "log_sum", "app.input.chars", (), call_level=False, offset=1.0),
)
ACCUMULATOR = {a.name: a for a in ACCUMULATORS}


def _slots(accumulators) -> tuple[str, ...]:
    """The slots of ``accumulators``: ``<name>`` of a count, ``<name>_n`` and ``<name>_log`` of a log sum."""
    return tuple(slot for a in accumulators
                 for slot in ((a.name,) if a.kind == "count" else (f"{a.name}_n", f"{a.name}_log")))


def _zero(bucket, accumulators) -> None:
    for a in accumulators:
        if a.kind == "count":
            setattr(bucket, a.name, 0)
        else:
            setattr(bucket, f"{a.name}_n", 0)
            setattr(bucket, f"{a.name}_log", 0.0)


def _tally(counts: dict, value) -> None:
    if value in counts or len(counts) < MAX_VALUES:
        counts[value] = counts.get(value, 0) + 1
    else:
        counts[OTHER] = counts.get(OTHER, 0) + 1


@functools.cache
def _stage_fields(stages: tuple[str, ...]) -> tuple[str, ...]:
    """The event fields of the stages: one tuple shared by every bucket, so a checkpoint stores it once."""
    return tuple(f"app.stage.{s}.duration" for s in stages)


def _key(value):
    """A tally key as stored: strings interned, so the same tenant or route in 20 buckets is one object and a
    checkpoint (pickle keeps one copy of an object it meets again) stores it once."""
    return sys.intern(value) if type(value) is str else value


_CALL_ACCUMULATORS = tuple(a for a in ACCUMULATORS if a.call_level)
_MODEL_ACCUMULATORS = tuple(a for a in ACCUMULATORS if not a.call_level)


class CallBucket(Slotted):
    """Call-level sums of one series over one bucket (``ACCUMULATORS`` with ``call_level``): ``latency_n`` and
    ``latency_log`` count only the calls that succeeded: a failed call's duration is its timeout or its fast
    failure, not the service's speed (failures are judged by the error rate), and on a small series one 30 s timeout
    would move a window's mean latency as much as a real slowdown."""

    __slots__ = (*_slots(_CALL_ACCUMULATORS), "error_types", "contributors", "slow", "error_ids", "ids",
                 "contributor_fields")

    def __init__(self, contributors: list[str]) -> None:
        #: the fields whose values are tallied in ``contributors`` (who is behind a surge or a burst)
        self.contributor_fields = contributors
        _zero(self, _CALL_ACCUMULATORS)
        self.error_types: dict = {}
        self.contributors: list[dict] = [{} for _ in contributors]
        self.slow: list = []
        self.error_ids: list = []
        self.ids: list = []

    def compact(self) -> None:
        """Drop what only the short window uses (exemplars, error mix) once the bucket has left it: the long window
        needs only counts and contributors. A closed bucket is never added to again, so what is dropped becomes the
        shared empty tuple (no new objects for thousands of series every bucket)."""
        self.ids = self.slow = self.error_ids = self.error_types = ()

    def add(self, event: dict, exemplars: int) -> None:
        self.add_sums(event, call_values(event), exemplars)

    def add_sums(self, event: dict, call: tuple | None, exemplars: int) -> None:
        """Add an event whose ``call_values`` are worked out (once for every series the event joins)."""
        if call is not None:
            self._add_call(event.get, call, exemplars)

    def _add_call(self, get, call: tuple, exemplars: int) -> None:
        """Add a call's sums (``get`` is the event's, ``call`` its ``call_values``)."""
        event_id, error, duration, log_duration, log_input, log_output, log_cost = call
        self.calls += 1
        if len(self.ids) < exemplars:
            self.ids.append(event_id)
        if error is not None:
            self.errors += 1
            _tally(self.error_types, error)
            if len(self.error_ids) < exemplars:
                self.error_ids.append(event_id)
        elif duration is not None:
            self.latency_n += 1
            self.latency_log += log_duration
            slow = self.slow
            if len(slow) < exemplars:
                slow.append((duration, event_id))
                slow.sort(reverse=True)
            elif duration > slow[-1][0]:
                slow[-1] = (duration, event_id)
                slow.sort(reverse=True)
        if log_output is not None:
            self.output_tokens_n += 1
            self.output_tokens_log += log_output
        if log_input is not None:
            self.input_tokens_n += 1
            self.input_tokens_log += log_input
        if log_cost is not None:
            self.cost_n += 1
            self.cost_log += log_cost
        for tallies, value in zip(self.contributors, map(get, self.contributor_fields)):
            if value is not None:
                tally = tallies.get(value)
                if tally is None:
                    value = OTHER if len(tallies) >= MAX_VALUES else _key(value)
                    tally = tallies.setdefault(value, [0, 0])
                tally[0] += 1
                if error is not None:
                    tally[1] += 1


def call_values(event: dict) -> tuple | None:
    """What every bucket sums of an LLM call, worked out once per event however many series it joins (model, tenant,
    route): ``(event_id, error, duration, log_duration, log_input_tokens, log_output_tokens, log_cost)``, each log
    None where the event lacks its value or, ``succeeded_only``, the call failed; None for other event kinds.

    >>> call_values({"event.id": "a", "gen_ai.client.operation.duration": 0.999, "error.type": "timeout",
    ...              "gen_ai.usage.output_tokens": 9})
    ('a', 'timeout', 0.999, 0.0, None, None, None)
    >>> call_values({"event.id": "f", "event.kind": "feedback"}) is None
    True
    """
    get = event.get
    if get("event.kind", "llm_call") != "llm_call":
        return None
    error = get("error.type")
    duration = get("gen_ai.client.operation.duration")
    value = get("gen_ai.usage.input_tokens")
    log_input = None if value is None else _log(value + 1.0)
    value = get("app.cost.usd")
    log_cost = None if value is None else _log(value + 1e-5)
    value = get("gen_ai.usage.output_tokens") if error is None else None
    return (get("trace_id") or get("event.id"), error, duration, None if duration is None else _log(duration + 1e-3),
            log_input, None if value is None else _log(value + 1.0), log_cost)


class Bucket(CallBucket):
    """All sums of one series over one bucket: every one of ``ACCUMULATORS``; stage ``i`` has ``stage_n[i]``,
    ``stage_sums[i]`` (seconds) and ``stage_logs[i]`` (of calls that succeeded); safety flags, input mixes, input
    embeddings summed element-wise (one of another length than the bucket's first is left out), variants,
    evaluations and feedback (SLOs count their own events: ``detectors.slo_series``)."""

    __slots__ = (
        *_slots(_MODEL_ACCUMULATORS),
        "flags", "flag_ids", "stage_sums", "stage_logs", "stage_n", "embedding_n", "embedding_sum", "categories",
        "variants", "evals", "outcomes", "feedback_n", "feedback_negative", "_negative_at_most",
        "_stage_fields", "_categorical",
    )

    def __init__(self, stages: list[str], categorical: list[str], contributors: list[str],
                 negative_at_most: float = 0.0) -> None:
        super().__init__(contributors)
        self._stage_fields = _stage_fields(tuple(stages))
        self._categorical = categorical
        self._negative_at_most = negative_at_most
        self.flags = [0] * len(SAFETY_FLAGS)
        self.flag_ids: list = []
        self.stage_n = [0] * len(stages)
        self.stage_sums = [0.0] * len(stages)
        self.stage_logs = [0.0] * len(stages)
        self.embedding_n = 0
        self.embedding_sum: list[float] | None = None
        self.categories: list[dict] = [{} for _ in categorical]
        #: variant -> [calls, errors, latency count, sum of log latency, sum of squared log latency]
        self.variants: dict = {}
        #: evaluation name -> [count, sum of scores]
        self.evals: dict = {}
        self.outcomes: list = []
        self.feedback_n = 0
        self.feedback_negative = 0
        _zero(self, _MODEL_ACCUMULATORS)

    def compact(self) -> None:
        """Also drop mixes, outcomes and embeddings: the long window needs stage sums, variants and evaluation tallies
        (a thin series' means reach back into it) besides counts."""
        super().compact()
        self.outcomes = self.flag_ids = self.categories = ()
        self.embedding_n, self.embedding_sum = 0, None

    def add_sums(self, event: dict, call: tuple | None, exemplars: int) -> None:
        get = event.get
        if call is not None:
            self._add_model_call(get, call, exemplars)
            kind = "llm_call"
        else:
            kind = get("event.kind")
            if kind == "feedback":
                self.feedback_n += 1
                if event["app.feedback.value"] <= self._negative_at_most:
                    self.feedback_negative += 1
        results = get("app.evaluation.results")
        if results:
            for result in results:
                self._add_eval(event, result["gen_ai.evaluation.name"], result["gen_ai.evaluation.score.value"])
        elif kind == "evaluation" and get("gen_ai.evaluation.score.value") is not None:
            self._add_eval(event, get("gen_ai.evaluation.name") or "score", event["gen_ai.evaluation.score.value"])

    def _add_eval(self, event: dict, name: str, score: float) -> None:
        tally = self.evals.get(name)
        if tally is None:
            if len(self.evals) >= MAX_VALUES:
                return
            tally = self.evals[name] = [0, 0.0]
        tally[0] += 1
        tally[1] += score
        if len(self.outcomes) < MAX_OUTCOMES:
            features = {f: event.get(f) for f in self._categorical}
            features["input_tokens"] = event.get("gen_ai.usage.input_tokens")
            self.outcomes.append((name, features, score))

    def _add_model_call(self, get, call: tuple, exemplars: int) -> None:
        """The call-level sums, then what only the model series watch."""
        self._add_call(get, call, exemplars)
        event_id, error, _, log_duration = call[:4]
        value = get("gen_ai.response.time_to_first_chunk")
        if value is not None:
            self.ttfc_n += 1
            self.ttfc_log += _log(value + 1e-3)
        value = get("app.input.chars")
        if value is not None:
            self.input_chars_n += 1
            self.input_chars_log += _log(value + 1.0)
        if error is None:
            stage_n, stage_sums, stage_logs = self.stage_n, self.stage_sums, self.stage_logs
            for i, value in enumerate(map(get, self._stage_fields)):
                if value is not None:
                    stage_n[i] += 1
                    stage_sums[i] += value
                    stage_logs[i] += _log(value + STAGE_OFFSET)
        embedding = get("app.input.embedding")
        if embedding:
            total = self.embedding_sum
            if total is None:
                self.embedding_sum, self.embedding_n = list(embedding), 1
            elif len(embedding) == len(total):
                self.embedding_sum = list(map(add, total, embedding))
                self.embedding_n += 1
        flags = tuple(map(get, SAFETY_FLAGS))
        if any(flags):
            for i, flag in enumerate(flags):
                if flag:
                    self.flags[i] += 1
            if len(self.flag_ids) < exemplars:
                self.flag_ids.append(event_id)
        for counts, value in zip(self.categories, map(get, self._categorical)):
            if value is not None:
                _tally(counts, value)
        variant = get("app.variant")
        if variant is not None:
            self._add_variant(variant, error, log_duration)

    def _add_variant(self, variant: str, error, log_duration: float | None) -> None:
        tally = self.variants.get(variant)
        if tally is None:
            if len(self.variants) >= MAX_VALUES:
                return
            tally = self.variants[variant] = [0, 0, 0, 0.0, 0.0]
        tally[0] += 1
        if error is not None:
            tally[1] += 1
        if log_duration is not None:
            tally[2] += 1
            tally[3] += log_duration
            tally[4] += log_duration * log_duration

