"""Golden PNGs: a hand-set conv on a hand-made 8x8 input, rendered in several modes and colormaps.

A missing reference fails. To (re)create the references after checking the output by eye:
``LAYERSCOPE_REGEN_GOLDEN=1 python -m pytest tests/render/test_golden.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerscope.render import render_grid

from .models import conv_maps, hand_conv, square_input

GOLDEN = Path(__file__).parent / "golden"


def _with_nan() -> torch.Tensor:
    x = square_input().clone()
    x[0, 0, 0, 7] = float("nan")  # spreads to the 3x3 neighbourhood of the top-right pixel in every channel
    with torch.no_grad():
        return hand_conv()(x)[0]


CASES = {
    "channel_viridis_labels": (conv_maps, dict(labels=True)),
    "layer_gray": (conv_maps, dict(normalize="layer", cmap="gray", padding=2)),
    "signed_caption_colorbar": (conv_maps, dict(normalize="signed-layer", caption=True, colorbar=True, layer="conv")),
    "robust_magma_scale3": (conv_maps, dict(normalize="robust", percentiles=(5, 95), cmap="magma", scale=3)),
    "std_top2_nan": (_with_nan, dict(order="std", max_channels=2, columns=1, labels=True)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_golden(case):
    make, options = CASES[case]
    grid = render_grid(make(), **options)
    path = GOLDEN / f"{case}.png"
    if os.environ.get("LAYERSCOPE_REGEN_GOLDEN") == "1":
        grid.save(path)
    if not path.exists():
        pytest.fail(f"golden {path.name} is missing; look at the output, then run with LAYERSCOPE_REGEN_GOLDEN=1")
    with Image.open(path) as image:
        expected = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(grid.rgb, expected, err_msg=f"{case} differs from its golden PNG")


def test_hand_conv_maps_are_the_expected_literals():
    maps = conv_maps()
    assert maps[0].tolist() == square_input()[0, 0].tolist()  # identity kernel
    assert maps[3].unique().tolist() == [0.5]  # constant channel: bias only
    assert maps[1, 0, :3].tolist() == [0.125, 0.25, 0.25]  # right minus left on the ramp (zero padding)
    assert maps[2, 1, 2].item() == 1.75  # below (2.0, the square) minus above (0.25, the ramp)
