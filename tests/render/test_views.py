"""The views besides grids (mean, overlay, pca), their sizes and captions, minimum tiles, square labelled grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from layerscope.errors import InputError
from layerscope.render import RenderOptions, render_grid
from layerscope.render.colormap import LEVELS, palette
from layerscope.render.font import GLYPH_WIDTH, TEXT_HEIGHT
from layerscope.render.overlays import overlay
from layerscope.render.strips import caption_strip
from layerscope.render.summary import summarize
from layerscope.render.views import MIN_SIZE, captioned, check_views, layer_view, seen_images

BAND = TEXT_HEIGHT + 4  # the caption band of a one-line view title


@pytest.mark.parametrize(("given", "message"), [("grid,overlya", r"Unknown view 'overlya'\. Did you mean 'overlay'"),
                                                (" , ", "No view given")])
def test_bad_view_names_are_refused_with_a_hint(given, message):
    with pytest.raises(InputError, match=message):
        check_views(given)


def test_view_names_keep_their_order_without_repeats():
    assert check_views("pca, grid,pca") == ("pca", "grid")


@pytest.mark.parametrize(("size", "factor"), [((7, 7), 23), ((14, 10), 16), ((160, 200), 1), ((1, 40), 160)])
def test_single_map_views_are_enlarged_nearest_to_the_minimum_size(size, factor):
    maps = torch.rand(3, *size, generator=torch.Generator().manual_seed(0))
    picture = layer_view("mean", maps)
    assert picture.shape == (size[0] * factor, size[1] * factor, 3)
    assert min(picture.shape[:2]) >= MIN_SIZE
    blocks = picture.reshape(size[0], factor, size[1], factor, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # nearest: every block one colour


def test_the_mean_view_is_the_channel_mean_min_max_coloured():
    maps = torch.zeros(2, 4, 4)
    maps[0, 0, 0], maps[1, 3, 3] = 4.0, -4.0  # mean: +2 top left, -2 bottom right, 0 elsewhere
    picture = layer_view("mean", maps, min_size=4)
    viridis = palette("viridis")
    assert picture.shape == (4, 4, 3)
    assert picture[0, 0].tolist() == viridis[LEVELS - 1].tolist() and picture[3, 3].tolist() == viridis[0].tolist()
    assert picture[1, 1].tolist() in (viridis[(LEVELS - 1) // 2].tolist(), viridis[LEVELS // 2].tolist())


def test_the_overlay_is_drawn_on_the_image_given_and_keeps_its_size():
    seen = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    maps = torch.rand(8, 7, 7, generator=torch.Generator().manual_seed(1))
    picture = layer_view("overlay", maps, seen=seen)
    np.testing.assert_array_equal(picture, overlay(seen, summarize(maps, "mean"), image_weight=0.45))


def test_the_overlay_needs_the_image():
    with pytest.raises(InputError, match="needs the image the model saw"):
        layer_view("overlay", torch.rand(2, 4, 4))


def test_the_pca_view_is_rgb_of_the_map_size_enlarged():
    maps = torch.rand(6, 8, 8, generator=torch.Generator().manual_seed(2))
    picture = layer_view("pca", maps)
    assert picture.shape == (160, 160, 3) and picture.dtype == np.uint8


def test_a_title_is_one_caption_line_above_the_picture():
    maps = torch.rand(2, 7, 7, generator=torch.Generator().manual_seed(3))
    title = "conv1_1 (random init) | mean map of a layer with a rather long caption that is wider than the map"
    picture = layer_view("mean", maps, title=title)
    assert picture.shape[0] == 161 + BAND  # 7 * 23 map rows under one text line
    assert picture.shape[1] >= len(title) * GLYPH_WIDTH  # widened, never wrapped or cut


def test_captioned_centres_the_picture_under_a_wider_caption():
    picture = np.zeros((10, 20, 3), np.uint8)
    out = captioned(picture, "x" * 10)
    assert out.shape == (10 + BAND, max(20, 10 * GLYPH_WIDTH + 8), 3)
    left = (out.shape[1] - 20) // 2
    assert (out[BAND:, left : left + 20] == 0).all() and (out[BAND:, :left] == 255).all()


def test_seen_images_undo_the_normalization():
    pixels = torch.tensor([0, 64, 255], dtype=torch.float32).view(1, 3, 1, 1) / 255
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    normalized = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert seen_images(normalized, mean, std)[0][0, 0].tolist() == [0, 64, 255]


def test_seen_images_of_one_channel_are_gray_rgb():
    image = seen_images(torch.full((1, 1, 2, 2), 1.0), (0.5,), (0.5,))[0]
    assert image.shape == (2, 2, 3) and (image == 255).all()


@pytest.mark.parametrize(("size", "min_tile", "scale"), [((7, 7), 32, 5), ((14, 14), 32, 3), ((56, 56), 32, 1),
                                                         ((7, 7), 0, 1), ((4, 9), 30, 4), ((1, 200), 32, 1)])
def test_small_maps_are_enlarged_to_the_minimum_tile(size, min_tile, scale):
    maps = torch.rand(4, *size, generator=torch.Generator().manual_seed(4))
    grid = render_grid(maps, RenderOptions(min_tile=min_tile, padding=0, columns=4, labels=False, colorbar=False))
    assert grid.meta.scale == scale
    assert grid.rgb.shape[:2] == (size[0] * scale, 4 * size[1] * scale)
    tile = grid.rgb[: size[0] * scale, : size[1] * scale].reshape(size[0], scale, size[1], scale, 3)
    assert (tile == tile[:, :1, :, :1]).all()


def test_the_minimum_tile_never_lowers_an_explicit_scale():
    assert RenderOptions(scale=6, min_tile=32).scale_for((7, 7)) == 6


def test_a_negative_minimum_tile_is_refused():
    with pytest.raises(InputError, match="min_tile"):
        RenderOptions(min_tile=-1)


@pytest.mark.parametrize("channels", [9, 16, 32, 64, 100])
@pytest.mark.parametrize("map_size", [7, 14, 28])
def test_labelled_grids_stay_near_square(channels, map_size):
    grid = render_grid(torch.rand(channels, map_size, map_size, generator=torch.Generator().manual_seed(5)),
                       RenderOptions(labels=True, min_tile=32))
    height, width = grid.rgb.shape[:2]
    rows, columns = grid.meta.layout
    assert rows * columns >= channels and (rows - 1) * columns < channels  # no empty row
    assert 0.6 <= height / width <= 1.6, (rows, columns, height, width)


def test_long_captions_stay_on_one_line_and_widen_the_strip():
    text = "features.28 | channel min-max, ranges within [-1.25, 3.5] | viridis " * 2
    strip = caption_strip(text, width=100)
    assert strip.shape[0] == TEXT_HEIGHT + 2
    assert strip.shape[1] == len(text) * GLYPH_WIDTH + 4
    assert math.isclose(caption_strip("short", width=300).shape[1], 300)
