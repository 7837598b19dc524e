"""Paper figures: structure of the matplotlib Figure, atomic saving, no pyplot state."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from layerscope.errors import InputError
from layerscope.render.figure import channel_figure, save_figure


def panels(fig):
    return [ax for ax in fig.axes if ax.get_title().startswith("ch ")]


def colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_channel_mode_titles_each_panel_with_its_index_and_its_own_colorbar():
    fig = channel_figure(torch.rand(5, 6, 6), layer="features.3", channels=[4, 0, 2])
    assert [ax.get_title() for ax in panels(fig)] == ["ch 4", "ch 0", "ch 2"]
    assert len(colorbars(fig)) == 3
    assert fig._suptitle.get_text() == "features.3  (5x6x6)"


def test_layer_mode_shares_one_range_and_one_colorbar():
    maps = torch.stack([torch.zeros(4, 4), torch.full((4, 4), 3.0), torch.arange(16.0).view(4, 4)])
    fig = channel_figure(maps, layer="conv", normalize="layer")
    images = [ax.images[0] for ax in panels(fig)]
    assert {im.get_clim() for im in images} == {(0.0, 15.0)}
    assert len(colorbars(fig)) == 1


def test_value_range_and_max_channels():
    fig = channel_figure(torch.rand(20, 3, 3), value_range=(-1.0, 2.0), max_channels=6, cols=3, title="mine")
    assert len(panels(fig)) == 6 and {ax.images[0].get_clim() for ax in panels(fig)} == {(-1.0, 2.0)}
    assert fig._suptitle.get_text() == "mine"


def test_figure_does_not_touch_pyplot_or_the_input():
    maps = torch.rand(3, 4, 4)
    before = maps.clone()
    channel_figure(maps)
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []
    assert torch.equal(maps, before)


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_save_figure_writes_each_format_atomically(tmp_path, suffix, magic):
    target = tmp_path / f"fig{suffix}"
    written = save_figure(channel_figure(torch.rand(2, 4, 4), dpi=50), target)
    assert written == target and target.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temp file left


def test_save_figure_png_has_the_figure_size(tmp_path):
    fig = channel_figure(torch.rand(1, 4, 4), dpi=40, panel_inches=2.0, colorbar=False)
    path = save_figure(fig, tmp_path / "one.png")
    width, height = fig.get_size_inches() * 40
    assert Image.open(path).size == (round(width), round(height))


def test_save_figure_never_overwrites_silently(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"user data")
    with pytest.raises(InputError, match=r"already exists; pass overwrite=True"):
        save_figure(channel_figure(torch.rand(1, 2, 2)), target)
    assert target.read_bytes() == b"user data"
    save_figure(channel_figure(torch.rand(1, 2, 2)), target, overwrite=True)
    assert target.read_bytes().startswith(b"\x89PNG")


def test_failed_save_leaves_no_temp_file(tmp_path):
    class Broken:
        dpi = 72

        def savefig(self, *args, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(Broken(), tmp_path / "x.pdf")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: save_figure(channel_figure(torch.rand(1, 2, 2)), p / "f.jpg"), r"use a .png, .pdf or .svg"),
        (lambda p: save_figure(channel_figure(torch.rand(1, 2, 2)), p / "no" / "f.png"), r"does not exist; create it"),
        (lambda p: channel_figure(torch.rand(2, 2)), r"\(C, H, W\), got \(2, 2\)"),
        (lambda p: channel_figure(torch.rand(3, 2, 2), channels=[3]), r"channels \[3\] are out of range.*0\.\.2"),
        (lambda p: channel_figure(torch.rand(3, 2, 2), normalize="robust"), r"Unknown normalize 'robust'"),
    ],
)
def test_bad_arguments(tmp_path, call, message):
    with pytest.raises(InputError, match=message):
        call(tmp_path)


def test_numpy_maps_are_accepted():
    fig = channel_figure(np.random.default_rng(0).random((2, 3, 3)).astype(np.float32), colorbar=False)
    assert len(panels(fig)) == 2
