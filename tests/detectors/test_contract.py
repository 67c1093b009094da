"""The promises every detector in the registry keeps, checked on each one (a new detector is tested by being listed)."""
from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil

import pytest

from inferwatch import detectors
from inferwatch.detectors.base import Detector
from inferwatch.detectors.filters import WarmUp
from inferwatch.detectors.registry import DETECTORS
from tests.detectors.labelled_streams import LABELLED_STREAMS

NAMES = sorted(DETECTORS)


def test_every_detector_class_in_the_package_is_registered():
    """A detector written in ``detectors/`` but left out of the registry would run nowhere and escape these checks.
    (Wrappers in ``detectors.filters`` take a detector rather than being one.)"""
    found = set()
    for info in pkgutil.iter_modules(detectors.__path__):
        module = importlib.import_module(f"inferwatch.detectors.{info.name}")
        for cls in vars(module).values():
            if (inspect.isclass(cls) and cls.__module__ == module.__name__ and cls is not Detector
                    and module.__name__ != "inferwatch.detectors.filters"
                    and all(callable(getattr(cls, m, None)) for m in ("learn_one", "score_one", "explain_one"))):
                found.add(cls)
    assert found == set(DETECTORS.values())


def _replay(detector, stream):
    scores = []
    for x, _ in stream:
        scores.append(detector.score_one(x))
        detector.learn_one(x)
    return scores


def test_every_detector_is_listed_with_a_labelled_stream():
    assert set(LABELLED_STREAMS) == set(DETECTORS)
    for name in DETECTORS:
        stream = LABELLED_STREAMS[name](seed=1)
        assert any(label for _, label in stream) and not all(label for _, label in stream), name


@pytest.mark.parametrize("name", NAMES)
def test_scores_are_in_unit_interval_and_score_one_changes_nothing(name):
    cls = DETECTORS[name]
    detector = cls()
    for x, _ in LABELLED_STREAMS[name](seed=2):
        before = pickle.dumps(detector)
        score = detector.score_one(x)
        assert 0.0 <= score <= 1.0
        assert pickle.dumps(detector) == before, "score_one must not change the state"
        detector.learn_one(x)


@pytest.mark.parametrize("name", NAMES)
def test_pickles_and_restores_identically(name):
    cls = DETECTORS[name]
    stream = LABELLED_STREAMS[name](seed=3)
    half = len(stream) // 2
    original = cls()
    _replay(original, stream[:half])
    restored = pickle.loads(pickle.dumps(original))
    assert _replay(restored, stream[half:]) == _replay(original, stream[half:])


@pytest.mark.parametrize("name", NAMES)
def test_warm_up_keeps_it_silent(name):
    cls = DETECTORS[name]
    stream = LABELLED_STREAMS[name](seed=4)
    detector = WarmUp(cls(), n=50)
    assert all(score == 0.0 for score in _replay(detector, stream[:50]))
    assert any(score > 0.0 for score in _replay(detector, stream[50:]))


@pytest.mark.parametrize("name", NAMES)
def test_beats_chance_on_its_labelled_stream(name):
    """It alarms (score >= 0.9999) on the anomalies, hardly ever elsewhere: its alarms are mostly real, where
    alarms at random would be right for only the anomalous share of points."""
    cls = DETECTORS[name]
    stream = LABELLED_STREAMS[name](seed=5)
    warm = len(stream) // 4
    scores = _replay(cls(), stream)[warm:]
    labels = [label for _, label in stream][warm:]
    anomalous = [s for s, label in zip(scores, labels) if label]
    normal = [s for s, label in zip(scores, labels) if not label]
    true_alarms = sum(s >= 0.9999 for s in anomalous)
    false_alarms = sum(s >= 0.9999 for s in normal)
    assert true_alarms >= 1
    assert false_alarms <= 2
    assert true_alarms > false_alarms


@pytest.mark.parametrize("name", NAMES)
def test_explain_one_gives_value_and_expected(name):
    """The protocol's ``(value, expected)``, from every detector (a detector says more through methods of its own)."""
    cls = DETECTORS[name]
    detector = cls()
    stream = LABELLED_STREAMS[name](seed=6)
    for x, _ in stream:
        explained = detector.explain_one(x)
        assert isinstance(explained, tuple) and len(explained) == 2, explained
        detector.learn_one(x)
