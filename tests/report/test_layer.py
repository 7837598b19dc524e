"""Layer views: the values the page reads back from the grid PNG are the layer's values, within half a level."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerscope.diagnosis import diagnose
from layerscope.render.colormap import BACKGROUND, NONFINITE
from layerscope.reporting.layer import REPORT_DISPLAY, Display, layer_view

from .helpers import grid_indices


def tiles(view, index):
    """Every shown channel's tile of input ``index`` as values, read the way the page script reads them."""
    g, levels = view.geometry, grid_indices(view.grids[index])
    assert levels.shape == (g["height"], g["width"])
    out = []
    for pos in range(len(view.channels)):
        x0 = g["left"] + (pos % g["cols"]) * g["cell_w"]
        y0 = g["top"] + (pos // g["cols"]) * g["cell_h"]
        tile = levels[y0 : y0 + g["map_h"] : g["scale"], x0 : x0 + g["map_w"] : g["scale"]].astype(np.float64)
        values = view.lo[pos] + tile / 251 * (view.hi[pos] - view.lo[pos])
        assert (tile[tile < 252] % view.level_step == 0).all()
        out.append(np.where(tile < 252, values, np.nan))
    return out


@pytest.mark.parametrize("shape, fields", [
    ((2, 5, 6, 9), {}),
    ((3, 4, 7, 7), {"padding": 3, "scale": 2}),
    ((1, 9, 4, 5), {"max_channels": 4, "order": "std"}),
    ((2, 3, 1, 12), {}),  # 1-D strips, stretched for display
])
def test_values_read_back_from_the_png_are_the_activations(shape, fields):
    torch.manual_seed(0)
    x = torch.randn(*shape) * torch.arange(1, shape[1] + 1.0)[None, :, None, None]  # channels on different scales
    view = layer_view("conv", x, **fields)
    for i in range(shape[0]):
        for pos, channel in enumerate(view.channels):
            truth = x[i, channel].numpy().astype(np.float64)
            read = tiles(view, i)[pos][: truth.shape[0]]
            half_step = (view.hi[pos] - view.lo[pos]) / 251 / 2
            np.testing.assert_allclose(read, truth, atol=half_step * 1.0001 + 1e-9)


def test_maps_larger_than_the_grid_is_shown_read_back_as_their_block_means():
    torch.manual_seed(0)
    x = torch.randn(2, 70, 112, 112) * torch.arange(1, 71.0)[None, :, None, None]
    view = layer_view("conv", x, display=REPORT_DISPLAY)  # 64 tiles of a 320-pixel grid: 28x28, blocks of 4x4
    g = view.geometry
    assert (g["pool"], g["map_w"], g["map_h"], view.level_step) == (4, 28, 28, 2)
    truth = torch.nn.functional.avg_pool2d(x, 4).double().numpy()
    for i in range(2):
        for pos in (0, 17, 63):
            half_step = view.level_step * (view.hi[pos] - view.lo[pos]) / 251 / 2
            np.testing.assert_allclose(tiles(view, i)[pos], truth[i, pos], atol=half_step * 1.0001 + 1e-6)


@pytest.mark.parametrize("shape, pool", [((1, 64, 56, 56), 2), ((1, 64, 28, 28), 1), ((1, 4, 112, 112), 1),
                                         ((1, 64, 30, 45), 3), ((1, 64, 41, 41), 2), ((1, 64, 1, 500), 1)])
def test_the_block_size_fits_the_grid_and_divides_the_map_where_it_can(shape, pool):
    assert Display(320).pool(shape[2], shape[3], shape[1]) == pool
    assert layer_view("conv", torch.rand(*shape), display=Display(320)).geometry["pool"] == pool


def test_each_channel_has_one_range_shared_by_the_inputs():
    x = torch.stack([torch.zeros(2, 3, 3), torch.ones(2, 3, 3) * torch.tensor([4.0, -2.0])[:, None, None]])
    view = layer_view("conv", x)
    assert view.lo == (0.0, -2.0) and view.hi == (4.0, 0.0)
    assert view.mode == "channel" and view.cmap == "viridis"


def test_layer_normalization_spans_every_channel_and_input():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    view = layer_view("conv", x, normalize="layer")
    assert set(view.lo) == {0.0} and set(view.hi) == {23.0}


def test_ordered_channels_are_the_same_for_every_input():
    x = torch.zeros(2, 6, 4, 4)
    x[:, 4] = 5.0
    x[:, 1] = 3.0
    x[1, 2] = 100.0  # high in one input only: ranked on the mean over inputs (50) -> first
    view = layer_view("conv", x, order="mean", max_channels=3)
    assert view.channels == (2, 4, 1) and view.total_channels == 6


def test_nan_is_marked_not_hidden():
    x = torch.ones(1, 2, 3, 3)
    x[0, 1, 1, 1] = float("nan")
    view = layer_view("conv", x)
    g, levels = view.geometry, grid_indices(view.grids[0])
    tile = levels[g["top"] : g["top"] + 3, g["left"] + g["cell_w"] : g["left"] + g["cell_w"] + 3]
    assert tile[1, 1] == NONFINITE and (levels[0] == BACKGROUND).all()


def test_flagged_channels_are_outlined_where_their_tiles_are():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3), torch.nn.ReLU())
    with torch.no_grad():
        model[0].weight[3].zero_()
        model[0].bias[3].fill_(-1.0)  # channel 3: dead after the ReLU
    x = torch.randn(4, 1, 12, 12)
    judged = diagnose(model, x, ["1"], channel_order=False)
    acts = torch.relu(model[0](x)).detach()
    view = layer_view("1", acts, diagnosis=judged["1"])
    assert view.flagged["dead"] == [3] and view.verdict == judged["1"].verdict
    g = view.geometry
    assert view.flag_boxes()[0] == ("dead", g["left"] + 3 % g["cols"] * g["cell_w"], g["top"] + 3 // g["cols"] * g["cell_h"],
                                    g["map_w"], g["map_h"])


def test_a_layer_without_maps_explains_itself():
    view = layer_view("head", torch.zeros(2, 34, 2))
    assert view.error and "Cannot infer the layout" in view.error and view.grids == ()


def test_mean_maps_share_one_range():
    x = torch.zeros(2, 2, 3, 3)
    x[1] = 2.0
    view = layer_view("conv", x)
    assert view.mean_range == (0.0, 2.0) and len(view.means) == 2
