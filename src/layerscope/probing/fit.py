"""The probe of one layer: cross-validated logistic regression on pooled features, and per-channel selectivity.

>>> import numpy as np
>>> y = np.repeat([0, 1], 10)
>>> separable = np.stack([y * 2.0, np.zeros(20)], axis=1)  # channel 0 says the class, channel 1 is constant
>>> scores = cross_validate(separable, y, folds=5, seed=0)
>>> scores.tolist()
[1.0, 1.0, 1.0, 1.0, 1.0]
>>> interval(scores)
(1.0, 1.0, 1.0)
>>> selectivity(separable, y, 2)[:, 1].tolist()  # d' of each channel for class 1 against the rest
[inf, 0.0]

Features are standardized inside each fold (the scaler sees the training part only), folds are
stratified and shuffled with ``seed``, and the classifier is scikit-learn's multinomial
``LogisticRegression`` (lbfgs, L2 with inverse strength ``C``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import InputError, require

__all__ = ["cross_validate", "interval", "selectivity", "chance_level", "check_folds", "INTERVAL"]

INTERVAL = "95% t-interval over the folds: mean ± t(0.975, folds-1) · sd / √folds"


def check_folds(y: np.ndarray, folds: int) -> None:
    """InputError unless every class has at least ``folds`` inputs and there are two classes."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise InputError(f"folds={folds!r} must be an int of at least 2.")
    values, counts = np.unique(y, return_counts=True)
    if len(values) < 2:
        raise InputError(f"The labels hold {len(values)} class; a probe needs at least 2 classes.")
    if counts.min() < folds:
        rare = values[counts.argmin()]
        raise InputError(f"Class {rare!r} has {counts.min()} inputs, fewer than folds={folds}: every fold needs one of "
                         f"each class. Give more inputs of it, or fewer folds (folds={max(2, int(counts.min()))}).")


def cross_validate(features: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0, C: float = 1.0,
                   max_iter: int = 1000) -> np.ndarray:
    """Held-out accuracy of each of ``folds`` stratified folds (shuffled with ``seed``), float64 (folds,)."""
    linear = require("sklearn.linear_model", "probe", "the probe")
    selection = require("sklearn.model_selection", "probe", "the probe")
    preprocessing = require("sklearn.preprocessing", "probe", "the probe")
    pipeline = require("sklearn.pipeline", "probe", "the probe")
    exceptions = require("sklearn.exceptions", "probe", "the probe")
    check_folds(y, folds)
    splits = selection.StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    x = np.asarray(features, dtype=np.float64)
    scores = []
    for train, test in splits.split(x, y):
        model = pipeline.make_pipeline(preprocessing.StandardScaler(),
                                       linear.LogisticRegression(C=C, max_iter=max_iter))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", exceptions.ConvergenceWarning)  # the accuracy is what is reported
            model.fit(x[train], y[train])
        scores.append(float((model.predict(x[test]) == y[test]).mean()))
    return np.asarray(scores)


def interval(scores: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean fold accuracy and its t-interval (see :data:`INTERVAL`), clipped to [0, 1].

    >>> [round(v, 4) for v in interval(np.array([0.8, 0.9, 1.0]))]
    [0.9, 0.6516, 1.0]
    """
    stats = require("scipy.stats", "probe", "the probe's interval")
    scores = np.asarray(scores, dtype=np.float64)
    mean = float(scores.mean())
    if len(scores) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, len(scores) - 1) * scores.std(ddof=1) / math.sqrt(len(scores)))
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def chance_level(y: np.ndarray) -> float:
    """The accuracy of always answering the most frequent class (1/K for balanced classes).

    >>> chance_level(np.array([0, 0, 0, 1]))
    0.75
    """
    return float(np.unique(y, return_counts=True)[1].max() / len(y))


def selectivity(features: np.ndarray, y: np.ndarray, classes: int) -> np.ndarray:
    """d' of each channel for each class against the others, float64 (C, classes).

    d' = (mean on the class − mean on the others) / √((var on the class + var on the others) / 2), variances
    with ddof=0; a channel that separates the two perfectly with no spread on either side gets ±inf, one
    with no difference 0; a class without inputs gets nan.

    >>> x = np.array([[1.0], [3.0], [-1.0], [1.0]]); selectivity(x, np.array([0, 0, 1, 1]), 2).tolist()
    [[2.0, -2.0]]
    """
    x = np.asarray(features, dtype=np.float64)
    out = np.full((x.shape[1], classes), np.nan)
    for k in range(classes):
        mine, rest = x[y == k], x[y != k]
        if not len(mine) or not len(rest):
            continue
        diff = mine.mean(0) - rest.mean(0)
        spread = np.sqrt((mine.var(0) + rest.var(0)) / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, k] = np.where(spread > 0, diff / np.where(spread > 0, spread, 1),
                                 np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
    return out
