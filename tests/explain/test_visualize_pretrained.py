"""explain/visualize.py on the pretrained EfficientNet-Lite0: a first-block channel's image is structure, not noise."""

from __future__ import annotations

import pytest
import torch

from layerscope import diagnose, visualize
from layerscope.diagnosis.thresholds import Thresholds
from layerscope.stats import noise_score

pytest.importorskip("timm", reason="builtin:efficientnet_lite0 needs timm (pip install 'layerscope[pretrained]')")
pytestmark = pytest.mark.slow  # 128 steps through the first block of EfficientNet-Lite0 at 224 px: a minute

MODEL, LAYER, CHANNELS = "builtin:efficientnet_lite0", "blocks.0", [0, 3]


@pytest.fixture(scope="module")
def wanted():
    return visualize(MODEL, LAYER, CHANNELS, seed=0)


def _noise(pixels) -> torch.Tensor:
    """The noise score of each image (mean over its colour planes), 0 smooth ... 1 white noise."""
    return noise_score(torch.as_tensor(pixels).permute(0, 3, 1, 2).float()).mean(1)


def test_the_images_are_far_from_noise_by_diagnose_s_own_measure(wanted):
    limit = Thresholds().input_noise  # the score at which diagnose calls an input noise
    assert _noise(wanted.pixels).max() < limit
    white = torch.randint(0, 256, tuple(wanted.pixels.shape), generator=torch.Generator().manual_seed(0))
    assert _noise(white).min() > 0.9  # the same measure does call noise noise


def test_diagnose_on_the_images_finds_them_smooth_and_the_channels_not_noisy(wanted):
    judged = diagnose(MODEL, wanted.images, [LAYER]).layers[0]
    assert judged.input_noise < Thresholds().input_noise
    assert not set(CHANNELS) & set(judged.flagged.get("noisy", []))


def test_the_objective_rose(wanted):
    assert bool((wanted.curves[-8:].mean(0) > 2 * wanted.curves[:8].mean(0).clamp(min=1e-3)).all())
