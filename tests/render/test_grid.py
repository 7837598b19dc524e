"""Channel grids: geometry, ordering, labels, strips, purity, NaN marking, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from layerscope.errors import InputError
from layerscope.render import ChannelGrid, channel_grid, render_grid, render_grids
from layerscope.render.colormap import BACKGROUND, MARKER_RGB, NONFINITE, TEXT, palette

from .models import conv_maps


def _ramp_channels(c: int = 6, h: int = 3, w: int = 4) -> torch.Tensor:
    """Channel k is a ramp of k * 0..h*w-1: means and maxima grow with k."""
    return torch.arange(c, dtype=torch.float32)[:, None, None] * torch.arange(h * w, dtype=torch.float32).reshape(h, w)


def test_tiles_land_at_their_cells_without_labels():
    grid = render_grid(_ramp_channels(4, 2, 3), columns=2, padding=1)
    assert grid.indices.shape == (1 + 2 * (1 + 2), 1 + 2 * (1 + 3))  # (7, 9)
    assert grid.meta.layout == (2, 2)
    tile = grid.indices[1:3, 5:8]  # row 0, column 1: channel 1, a 0..5 ramp
    assert tile.tolist() == [[0, 50, 100], [151, 201, 251]]
    assert (grid.indices[0] == BACKGROUND).all() and (grid.indices[:, 4] == BACKGROUND).all()


def test_channel_zero_of_a_ramp_is_flat():
    grid = render_grid(_ramp_channels(1, 2, 2), padding=0)
    assert grid.indices.tolist() == [[0, 0], [0, 0]]


def test_rgb_is_the_palette_of_the_indices():
    grid = render_grid(conv_maps(), cmap="magma")
    np.testing.assert_array_equal(grid.rgb, palette("magma")[grid.indices])
    np.testing.assert_array_equal(np.asarray(grid), grid.rgb)
    assert channel_grid(conv_maps(), cmap="magma").shape == grid.shape


def test_empty_cells_of_the_last_row_are_background():
    grid = render_grid(_ramp_channels(5, 2, 2), columns=3, padding=0)
    assert grid.indices.shape == (4, 6)
    assert (grid.indices[2:, 4:] == BACKGROUND).all()


@pytest.mark.parametrize(("order", "expected"), [("index", [0, 1, 2]), ("mean", [5, 4, 3]), ("max", [5, 4, 3]),
                                                 ("std", [5, 4, 3]), ("active", [1, 2, 3])])
def test_order_and_max_channels_pick_channels(order, expected):
    grid = render_grid(_ramp_channels(), order=order, max_channels=3)
    assert list(grid.meta.channels) == expected and grid.meta.total_channels == 6


def test_explicit_channels_are_shown_in_the_order_given_with_the_layer_range():
    maps = _ramp_channels(6, 2, 2)
    grid = render_grid(maps, channels=[5, 1], normalize="layer", padding=0, columns=2, order="max", max_channels=1)
    assert grid.meta.channels == (5, 1)
    assert grid.meta.normalization.vmax == (15.0,)  # one range for the layer: every channel, not only those shown
    assert grid.indices[:, :2].tolist() == [[0, 84], [167, 251]] and grid.indices[1, 3] == 50  # 1*3 / 15 of 251


def test_explicit_channels_out_of_range_are_refused():
    with pytest.raises(InputError, match=r"channels \[6\] are out of range for maps with 6 channels; use 0..5"):
        render_grid(_ramp_channels(), channels=[0, 6])


def test_ranked_tiles_show_the_ranked_channels():
    maps = torch.zeros(3, 2, 2)
    maps[2] = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    grid = render_grid(maps, order="max", max_channels=1, padding=0)
    assert grid.indices.tolist() == [[0, 84], [167, 251]]


def test_labels_draw_the_channel_index_above_each_tile():
    grid = render_grid(_ramp_channels(12, 4, 4), labels=True, columns=4, padding=1)
    band = grid.indices[1:8, 1:13]  # the label of channel 0: one digit, right-aligned in two
    assert (band[:, :6] == BACKGROUND).all() and (band[:, 6:] == TEXT).any()
    assert grid.indices.shape == (1 + 3 * (1 + 8 + 4), 1 + 4 * (1 + 12))


def test_scale_repeats_pixels():
    small = render_grid(_ramp_channels(1, 2, 2), padding=0, labels=False)
    big = render_grid(_ramp_channels(1, 2, 2), padding=0, scale=3, labels=False)
    np.testing.assert_array_equal(big.indices, np.kron(small.indices, np.ones((3, 3), np.uint8)))


def test_caption_and_colorbar_add_strips():
    plain = render_grid(conv_maps())
    both = render_grid(conv_maps(), caption=True, colorbar=True, layer="conv")
    assert both.indices.shape[0] > plain.indices.shape[0]
    assert (both.indices[:13] == TEXT).any()  # caption text at the top
    assert "conv" in repr(both) and "channel min-max" in repr(both)


def test_nan_is_painted_magenta_in_the_image():
    maps = conv_maps().clone()
    maps[1, 3, 3] = float("nan")
    grid = render_grid(maps, padding=0, columns=4, labels=False, colorbar=False)
    assert grid.indices[3, 8 + 3] == NONFINITE
    assert grid.rgb[3, 8 + 3].tolist() == list(MARKER_RGB)
    assert grid.meta.normalization.nonfinite == 1


def test_batched_rendering_equals_one_at_a_time():
    maps = torch.stack([conv_maps(), conv_maps() * 2 - 1])
    together = render_grids(maps, normalize="layer", order="std", max_channels=3, labels=True)
    for i, grid in enumerate(together):
        alone = render_grid(maps[i], normalize="layer", order="std", max_channels=3, labels=True)
        np.testing.assert_array_equal(grid.indices, alone.indices)
        assert grid.meta == alone.meta


def test_png_repr_and_save(tmp_path):
    grid = render_grid(conv_maps())
    assert isinstance(grid, ChannelGrid) and grid._repr_png_().startswith(b"\x89PNG")
    from PIL import Image

    with Image.open(grid.save(tmp_path / "g.png")) as image:
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), grid.rgb)


@settings(max_examples=40, deadline=None)
@given(
    data=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6)).flatmap(
        lambda s: arrays(np.float32, s, elements=st.floats(width=32))
    ),
    mode=st.sampled_from(["channel", "layer", "robust", "signed"]),
    labels=st.booleans(),
)
def test_rendering_is_pure_and_always_a_valid_image(data, mode, labels):
    maps = torch.from_numpy(data.copy())
    grid = render_grid(maps, normalize=mode, labels=labels, order="mean")
    np.testing.assert_array_equal(maps.numpy(), data)  # NaN-aware equality: input untouched
    assert grid.rgb.dtype == np.uint8 and grid.indices.dtype == np.uint8
    bad = ~np.isfinite(data)
    assert ((grid.indices == NONFINITE).sum() == bad.sum())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": "size"}, "Unknown channel order 'size'"),
        ({"max_channels": -1}, "max_channels must be a positive int"),
        ({"scale": 0}, "scale must be an int >= 1"),
        ({"padding": -2}, "padding must be an int >= 0"),
        ({"columns": 0}, "columns must be an int >= 1"),
        ({"cmap": "Viridis"}, "Did you mean 'viridis'"),
    ],
)
def test_bad_options_are_refused_with_the_fix(kwargs, match):
    with pytest.raises(InputError, match=match):
        render_grid(conv_maps(), **kwargs)


def test_wrong_shapes_point_to_to_maps():
    with pytest.raises(InputError, match="to_maps"):
        render_grid(torch.zeros(1, 4, 8, 8))


@pytest.mark.parametrize("mode", ["channel", "layer", "robust", "signed-layer"])
@pytest.mark.parametrize("shape", [(2, 7, 5, 6), (1, 300, 16, 16), (1, 2, 300, 300)])  # 1, 2 and 2 blocks
def test_numpy_and_torch_kernels_render_the_same_pixels(mode, shape):
    from layerscope.render import _kernels

    maps = torch.randn(*shape, generator=torch.Generator().manual_seed(5)) * 3 + 1
    maps[-1, 1, 3, 4] = float("nan")
    first = [g.indices for g in render_grids(maps, normalize=mode)]
    _kernels.NUMPY_ON_CPU = False
    try:
        second = [g.indices for g in render_grids(maps, normalize=mode)]
    finally:
        _kernels.NUMPY_ON_CPU = True
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_to_pil_is_a_palette_image_of_the_same_pixels():
    grid = render_grid(conv_maps(), normalize="signed")
    image = grid.to_pil()
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), grid.rgb)


def test_global_without_a_range_shares_one_scale_across_the_batch():
    maps = torch.stack([torch.zeros(2, 3, 3), torch.ones(2, 3, 3) * 4])
    maps[0, 0, 0, 0] = -1.0
    grids = render_grids(maps, normalize="global")
    assert [(g.meta.normalization.vmin, g.meta.normalization.vmax) for g in grids] == [((-1.0,), (4.0,))] * 2


def test_a_value_range_outside_global_is_refused():
    with pytest.raises(InputError, match="only to normalize='global'"):
        render_grids(torch.zeros(1, 2, 3, 3), normalize="channel", value_range=(0.0, 1.0))
