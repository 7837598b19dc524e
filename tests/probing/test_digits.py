"""On the builtin digits model: probes on the 360 held-out digits rise with depth to >= 0.95 at the last layer,
and the untrained copy (the same architecture at its initialization) stays lower there."""

from __future__ import annotations

import numpy as np
import pytest

import layerscope as ls

pytest.importorskip("sklearn")

LAYERS = ["conv1", "conv2", "fc1", "fc2", "fc3"]


@pytest.fixture(scope="module")
def held_out():
    from layerscope.zoo import digits

    _, _, images, labels, _ = digits.load_split()
    return digits.to_tensor(images), labels


@pytest.mark.slow
def test_probes_rise_with_depth_and_the_untrained_copy_stays_lower(held_out):
    x, y = held_out
    trained = ls.probe("builtin:digits", x, labels=y, layers=LAYERS, folds=5, seed=0)
    untrained = ls.probe("builtin:digits:untrained", x, labels=y, layers=LAYERS, folds=5, seed=0)
    accuracy = [trained.accuracy[name] for name in LAYERS]
    counts = np.bincount(y, minlength=10)
    assert trained.inputs == 360 and trained.counts == counts.tolist() and trained.chance == counts.max() / 360
    assert accuracy[0] < accuracy[1] < accuracy[-1]
    assert all(later >= earlier - 0.02 for earlier, later in zip(accuracy, accuracy[1:]))  # no real drop
    assert accuracy[-1] >= 0.95
    assert untrained.accuracy["fc3"] < accuracy[-1] - 0.1
    assert untrained["fc3"].interval[1] < trained["fc3"].interval[0]  # the intervals do not overlap
    assert trained.classes == [str(d) for d in range(10)]
