"""Overlay: the blend's endpoints as properties, a golden image, input handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from layerscope.errors import InputError
from layerscope.render import colormap
from layerscope.render.overlays import overlay

from ._golden import assert_matches_golden

images = arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3)))
heats = arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=st.floats(-50, 50, width=32))


@settings(max_examples=40, deadline=None)
@given(image=images, heat=heats)
def test_image_weight_one_is_exactly_the_image(image, heat):
    np.testing.assert_array_equal(overlay(image, heat, image_weight=1.0), image)


@settings(max_examples=40, deadline=None)
@given(image=images, heat=heats)
def test_image_weight_zero_is_exactly_the_heatmap(image, heat):
    black = np.zeros_like(image)
    heatmap = overlay(black, heat, image_weight=0.0, cmap="viridis")
    np.testing.assert_array_equal(overlay(image, heat, image_weight=0.0, cmap="viridis"), heatmap)
    palette = colormap.palette("viridis")[: colormap.LEVELS]
    assert np.isin(heatmap.reshape(-1, 3).view("V3"), palette.view("V3")).all()  # every pixel a colormap colour


@settings(max_examples=30, deadline=None)
@given(image=images, heat=heats, weight=st.floats(0.0, 1.0))
def test_blend_is_between_image_and_heatmap_and_inputs_untouched(image, heat, weight):
    image_before, heat_before = image.copy(), heat.copy()
    heatmap = overlay(image, heat, image_weight=0.0).astype(int)
    result = overlay(image, heat, image_weight=weight).astype(int)
    low, high = np.minimum(heatmap, image), np.maximum(heatmap, image)
    assert ((low <= result) & (result <= high)).all()
    np.testing.assert_array_equal(image, image_before)
    np.testing.assert_array_equal(heat, heat_before)


def test_overlay_golden_from_hand_set_inputs():
    rows = np.arange(16, dtype=np.uint8)[:, None] * 16
    image = np.stack([np.repeat(rows, 16, axis=1), np.repeat(rows.T, 16, axis=0), np.full((16, 16), 128, np.uint8)], -1)
    heat = torch.tensor([[0.0, 1.0, 0.0], [0.5, 2.0, 0.5], [0.0, 1.0, 0.0]])
    assert_matches_golden(overlay(image, heat, image_weight=0.4, cmap="jet"), "overlay_jet.png")


def test_heat_is_upsampled_bilinearly_to_the_image_size():
    heat = torch.tensor([[0.0, 1.0]])
    gray = overlay(np.zeros((1, 4, 3), np.uint8), heat, image_weight=0.0, cmap="gray")
    assert gray[0, :, 0].tolist() == [0, 64, 191, 255]  # align_corners=False: 0, 1/4, 3/4, 1


def test_value_range_clips_instead_of_min_max():
    heat = torch.tensor([[0.0, 5.0, 10.0]])
    gray = overlay(np.zeros((1, 3, 3), np.uint8), heat, image_weight=0.0, cmap="gray", value_range=(0.0, 5.0))
    assert gray[0, :, 0].tolist() == [0, 255, 255]


def test_pil_images_of_any_mode_are_accepted():
    image = Image.new("L", (6, 4), 200)
    result = overlay(image, np.ones((2, 3), np.float32), image_weight=1.0)
    assert result.shape == (4, 6, 3) and (result == 200).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_weight": 1.5}, r"image_weight must be in \[0, 1\].*got 1.5"),
        ({"heat": np.zeros((2, 2, 2))}, r"heat must be one \(H, W\) map, got shape \(2, 2, 2\).*summarize"),
        ({"image": np.zeros((4, 4, 3), np.int32)}, r"uint8 \(0..255\) or float in \[0, 1\], got dtype int32"),
        ({"image": "cat.jpg"}, r"PIL image or an \(H, W, 3\) numpy array, got str"),
        ({"cmap": "virdis"}, r"Unknown colormap 'virdis'. Did you mean 'viridis'"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    arguments = {"image": np.zeros((4, 4, 3), np.uint8), "heat": np.zeros((2, 2), np.float32), **kwargs}
    with pytest.raises(InputError, match=message):
        overlay(arguments.pop("image"), arguments.pop("heat"), **arguments)
