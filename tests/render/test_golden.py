"""Golden PNGs: a hand-set conv on a hand-made 8x8 input, rendered in several modes and colormaps.

A missing reference fails (see :mod:`._golden`; ``LAYERSCOPE_REGEN_GOLDEN=1`` rewrites them).
"""

from __future__ import annotations

import pytest
import torch

from layerscope.render import render_grid

from ._golden import assert_matches_golden
from .models import conv_maps, hand_conv, square_input


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
    assert_matches_golden(render_grid(make(), **options), f"{case}.png")


def test_hand_conv_maps_are_the_expected_literals():
    maps = conv_maps()
    assert maps[0].tolist() == square_input()[0, 0].tolist()  # identity kernel
    assert maps[3].unique().tolist() == [0.5]  # constant channel: bias only
    assert maps[1, 0, :3].tolist() == [0.125, 0.25, 0.25]  # right minus left on the ramp (zero padding)
    assert maps[2, 1, 2].item() == 1.75  # below (2.0, the square) minus above (0.25, the ramp)


def test_a_missing_golden_fails_and_says_how_to_make_it(monkeypatch):
    monkeypatch.delenv("LAYERSCOPE_REGEN_GOLDEN", raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"no_such\.png is missing.*LAYERSCOPE_REGEN_GOLDEN=1"):
        assert_matches_golden(render_grid(conv_maps()), "no_such.png")
