"""The bucket's add code against its declaration (``bucket.ACCUMULATORS``): every row is summed as declared, by the
buckets it names, and the registry's per-call signals read the field and offset declared there."""
import math
import pickle

import pytest

from inferwatch.detectors.bucket import ACCUMULATORS, Bucket, CallBucket
from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.registry import CALL_SIGNALS, build_key_sets, build_signals

LOG_SUMS = [a for a in ACCUMULATORS if a.kind == "log_sum"]


def buckets():
    return [Bucket(["retrieval"], ["app.input.language"], ["app.tenant.id"]), CallBucket(["app.tenant.id"])]


@pytest.mark.parametrize("summed", LOG_SUMS, ids=lambda a: a.name)
def test_each_log_sum_adds_its_field_with_its_offset(summed):
    for bucket in buckets():
        if not summed.call_level and not isinstance(bucket, Bucket):
            assert not hasattr(bucket, f"{summed.name}_n")
            continue
        bucket.add({"event.id": "a", "error.type": None, summed.field: 41.0}, 3)
        bucket.add({"event.id": "b", "error.type": None}, 3)  # no value: not counted
        assert getattr(bucket, f"{summed.name}_n") == 1
        assert getattr(bucket, f"{summed.name}_log") == math.log(41.0 + summed.offset)


@pytest.mark.parametrize("summed", LOG_SUMS, ids=lambda a: a.name)
def test_a_failed_call_counts_only_where_declared(summed):
    bucket = buckets()[0]
    bucket.add({"event.id": "a", "error.type": "timeout", summed.field: 41.0}, 3)
    assert getattr(bucket, f"{summed.name}_n") == (0 if summed.succeeded_only else 1)
    assert (bucket.calls, bucket.errors) == (1, 1)


def test_other_event_kinds_add_no_call_sums():
    for bucket in buckets():
        bucket.add({"event.id": "f", "event.kind": "feedback", "app.feedback.value": 0.0,
                    **{a.field: 5.0 for a in LOG_SUMS}}, 3)
        assert bucket.calls == 0 and all(getattr(bucket, f"{a.name}_n", 0) == 0 for a in LOG_SUMS)


def test_the_per_call_signals_read_the_declared_field_and_offset():
    signals = {s.name: s for s in build_signals(DetectorSettings())}
    for summed in LOG_SUMS:
        if summed.name in signals:
            signal = signals[summed.name]
            assert signal.signal == summed.field
            assert signal.inverse(math.log(10.0 + summed.offset)) == pytest.approx(10.0)


def test_extra_series_can_watch_exactly_the_signals_of_call_level_sums():
    assert set(CALL_SIGNALS) == {"latency", "errors", "traffic", "input_tokens", "output_tokens", "cost"}
    with pytest.raises(ValueError, match="'ttfc' needs more than call-level sums"):
        build_key_sets(DetectorSettings(extra_series_signals=["ttfc"]))


def test_a_bucket_pickles_and_restores_every_sum():
    bucket = buckets()[0]
    bucket.add({"event.id": "a", "error.type": None, **{a.field: 3.0 for a in LOG_SUMS},
                "app.stage.retrieval.duration": 0.2, "app.input.embedding": [1.0, 2.0]}, 3)
    restored = pickle.loads(pickle.dumps(bucket))
    assert [getattr(restored, s) for s in Bucket.__slots__ + CallBucket.__slots__] == \
        [getattr(bucket, s) for s in Bucket.__slots__ + CallBucket.__slots__]
