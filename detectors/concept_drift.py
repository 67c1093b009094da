"""Concept drift: the relation between inputs and outcomes (evaluation scores, feedback) changing.

An online River linear model predicts the outcome from the inputs (evaluation name, input language and topic, log
input tokens); ADWIN watches its absolute error stream, predicted before learning (prequential). The score is 1 when
ADWIN reports a change *and* the error got worse, else 0. The observation is the list of ``(evaluation name,
features, score)`` outcomes of one bucket.

>>> import random
>>> rng = random.Random(5)
>>> d = ConceptDrift()
>>> def bucket(drop):
...     return [("rel", {"app.input.language": lang, "input_tokens": 500},
...              rng.gauss((0.9 if lang == "en" else 0.8) - (drop if lang == "de" else 0.0), 0.03))
...             for lang in rng.choices(["en", "de"], k=30)]
>>> for _ in range(150):
...     d.learn_one(bucket(0.0))
>>> def run(drop, n):
...     scores = []
...     for _ in range(n):
...         b = bucket(drop); scores.append(d.score_one(b)); d.learn_one(b)
...     return max(scores)
>>> run(0.0, 20), run(0.3, 6)
(0.0, 1.0)
"""
from __future__ import annotations

import math

from river import drift, linear_model, optim

from inferwatch.detectors.adwin_drift import adwin_state, copy_adwin, restore_adwin
from inferwatch.detectors.pickling import Slotted


def features(name: str, inputs: dict) -> dict:
    out = {f"eval={name}": 1.0}
    for field, value in inputs.items():
        if field == "input_tokens":
            out["log_input_tokens"] = math.log1p(value) / 10.0 if value else 0.0
        elif value is not None:
            out[f"{field}={value}"] = 1.0
    return out


def bucket_features(x: list) -> list[dict]:
    """The feature dicts of a bucket's ``(evaluation name, features, score)`` outcomes, in their order."""
    return [features(name, inputs) for name, inputs, _ in x]


class ConceptDrift(Slotted):
    """Pickled as what it learned: the model's weights (in their order: a prediction sums them in it), intercept and
    step count, and the error stream's ADWIN state; River's objects are rebuilt around them on restore.

    The engine scores a bucket, then learns it: ``score_one`` keeps the bucket's feature dicts (not pickled) for
    ``learn_one`` of the very same bucket."""

    __slots__ = ("learning_rate", "delta", "model", "errors", "_featured")
    _derived = ("_featured",)

    def __init__(self, learning_rate: float = 0.002, delta: float = 0.002) -> None:
        self.learning_rate = learning_rate
        self.delta = delta
        self.model = self._new_model()
        self.errors = drift.ADWIN(delta=delta, clock=1)
        self._derive()

    def _derive(self) -> None:
        self._featured: tuple[list, list[dict]] | None = None

    def _new_model(self) -> linear_model.LinearRegression:
        return linear_model.LinearRegression(optimizer=optim.SGD(self.learning_rate), intercept_lr=self.learning_rate)

    def __getstate__(self) -> tuple:
        model = self.model
        return (self.learning_rate, self.delta, model._weights.to_dict(), model.intercept,
                model.optimizer.n_iterations, adwin_state(self.errors))

    def __setstate__(self, state: tuple) -> None:
        self.learning_rate, self.delta, weights, intercept, steps, errors = state
        self.model = model = self._new_model()
        for name, weight in weights.items():
            model._weights[name] = weight
        model.intercept, model.optimizer.n_iterations = intercept, steps
        self.errors = restore_adwin(self.delta, 1, errors)
        self._derive()

    def _errors(self, x: list, featured: list[dict]) -> list[float]:
        predict = self.model.predict_one
        return [abs(score - predict(f)) for f, (_, _, score) in zip(featured, x)]

    def learn_one(self, x: list) -> None:
        featured, self._featured = self._featured, None
        if featured is None or featured[0] is not x:
            featured = (x, bucket_features(x))
        for f, (_, _, score) in zip(featured[1], x):
            self.errors.update(abs(score - self.model.predict_one(f)))
            self.model.learn_one(f, score)

    def score_one(self, x: list) -> float:
        if not x:
            return 0.0
        featured = bucket_features(x)
        self._featured = (x, featured)
        errors = self._errors(x, featured)
        probe = copy_adwin(self.errors)
        for e in errors:
            probe.update(e)
            if probe.drift_detected and sum(errors) / len(errors) > self.errors.estimation:
                return 1.0
        return 0.0

    def explain_one(self, x: list) -> tuple[float, float]:
        errors = self._errors(x, bucket_features(x))
        return (sum(errors) / len(errors) if errors else 0.0), self.errors.estimation
