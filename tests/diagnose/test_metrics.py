"""Activation bounds read from the modules."""

import pytest
from torch import nn

from layerscope.diagnose.metrics import activation_bounds


@pytest.mark.parametrize(
    "module, bounds",
    [(nn.ReLU6(), (None, 6.0)), (nn.Hardtanh(-1, 1), (-1.0, 1.0)), (nn.Sigmoid(), (0.0, 1.0)),
     (nn.Tanh(), (-1.0, 1.0)), (nn.ReLU(), None), (nn.Conv2d(1, 1, 1), None)],
)
def test_activation_bounds(module, bounds):
    assert activation_bounds(module) == bounds
