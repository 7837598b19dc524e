"""Activation bounds read from the modules."""

import pytest
from torch import nn

from layerscope.diagnosis.metrics import activation_bounds, rectified


@pytest.mark.parametrize(
    "module, bounds",
    [(nn.ReLU6(), (None, 6.0)), (nn.Hardtanh(-1, 1), (-1.0, 1.0)), (nn.Sigmoid(), (0.0, 1.0)),
     (nn.Tanh(), (-1.0, 1.0)), (nn.ReLU(), None), (nn.Conv2d(1, 1, 1), None)],
)
def test_activation_bounds(module, bounds):
    assert activation_bounds(module) == bounds


@pytest.fixture(scope="module")
def lite0():
    timm = pytest.importorskip("timm")
    return timm.create_model("tf_efficientnet_lite0", pretrained=False)


@pytest.mark.parametrize(("name", "rectified_"), [
    ("conv_stem", False),           # into bn1 (BatchNormAct2d): re-centred before its ReLU6
    ("bn1", True),                  # BatchNormAct2d with ReLU6 inside: a rectifier output
    ("blocks.1.0.conv_pw", False),
    ("blocks.1.0.conv_dw", False),  # the depthwise conv of the issue: all-negative before BatchNorm is not dead
    ("blocks.1.0.bn2", True),
    ("blocks.1.0.conv_pwl", False),
    ("blocks.1.0.bn3", False),      # the linear bottleneck: BatchNorm without activation
    ("blocks.1.0", None),           # a block: its outputs decide (here signed: the linear bottleneck)
])
def test_rectified_in_efficientnet_lite(lite0, name, rectified_):
    assert rectified(lite0, name) is rectified_


@pytest.mark.parametrize(("name", "rectified_"), [("features.0", True), ("features.1", True), ("classifier.0", True),
                                                  ("features", None)])
def test_rectified_in_vgg(name, rectified_):
    import torchvision

    assert rectified(torchvision.models.vgg11(), name) is rectified_


@pytest.mark.parametrize(("name", "rectified_"), [("conv1", False), ("relu", True), ("layer1.0.conv2", False),
                                                  ("layer1.0.bn1", False), ("layer1.0", None)])
def test_rectified_in_resnet(name, rectified_):
    import torchvision

    assert rectified(torchvision.models.resnet18(), name) is rectified_


def test_the_finite_median_is_numpys_bit_for_bit():
    """verdict's median (a partition, no np.median overhead) against np.median over the finite values."""
    import numpy as np

    from layerscope.diagnosis.verdict import finite_median

    rng = np.random.default_rng(0)
    for n in range(1, 200):
        values = rng.standard_normal(n) * rng.uniform(0.1, 100)
        values[rng.random(n) < 0.1] = np.nan
        finite = values[np.isfinite(values)]
        found = finite_median(values)
        assert (np.isnan(found) and not finite.size) or found == np.median(finite)
