"""The notebook browser, driven from its widgets' Python side: each control changes the picture."""

from __future__ import annotations

import io

import ipywidgets
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import layerscope as ls
from layerscope.errors import InputError


def _pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def browser():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    x = torch.nn.functional.avg_pool2d(torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)), 3, 1, 1)
    return ls.browse(model, x, ["conv1", "layer1.0.conv1", "layer3.0.conv1"])


def test_only_core_widgets_make_the_browser(browser):
    assert isinstance(browser.layer, ipywidgets.Dropdown) and isinstance(browser.channel, ipywidgets.IntSlider)
    assert isinstance(browser.normalize, ipywidgets.ToggleButtons) and isinstance(browser.image, ipywidgets.Image)
    assert browser.image.format == "png" and browser.image.value[:4] == b"\x89PNG"
    assert browser.layer.options == ("conv1", "layer1.0.conv1", "layer3.0.conv1")
    bundle = browser._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == browser.widget.model_id


def test_changing_the_layer_changes_the_image_and_the_channel_range(browser):
    browser.layer.value, browser.channel.value = "conv1", -1
    before = browser.image.value
    browser.layer.value = "layer3.0.conv1"
    assert browser.image.value != before and browser.channel.max == 255
    assert _pixels(browser.image.value).shape != _pixels(before).shape  # 256 tiles of 4x4 instead of 64 of 32x32


def test_one_channel_enlarged_then_another(browser):
    browser.layer.value, browser.channel.value = "conv1", 5
    one = _pixels(browser.image.value)
    assert "channel 5" in browser.info.value and max(one.shape[:2]) >= 300  # 32x32 map, enlarged x10
    browser.channel.value = 6
    assert not np.array_equal(_pixels(browser.image.value), one)


def test_a_channel_above_the_new_layers_range_goes_back_to_the_grid(browser):
    browser.layer.value, browser.channel.value = "layer3.0.conv1", 200
    browser.layer.value = "conv1"
    assert browser.channel.value == -1 and browser.channel.max == 63


def test_normalization_toggle_and_overlay_change_the_picture(browser):
    browser.layer.value, browser.channel.value, browser.overlay.value = "layer1.0.conv1", -1, False
    browser.normalize.value = "channel"
    per_channel = browser.image.value
    browser.normalize.value = "layer"
    assert browser.image.value != per_channel and "layer min-max" in browser.info.value
    plain = browser.image.value
    browser.overlay.value = True
    assert browser.image.value != plain and "over the input" in browser.info.value
    browser.overlay.value = False


def test_the_input_slider_shows_another_input(browser):
    browser.input.value = 0
    first = browser.image.value
    browser.input.value = 1
    assert browser.image.value != first and "input 1" in browser.info.value
    browser.input.value = 0


def test_image_files_are_undone_to_their_pixels_for_the_overlay(tmp_path):
    files = ls.zoo.write_sample_images(tmp_path / "d", count=2, photos=())
    browser = ls.browse("builtin:digits", [str(f) for f in files])
    with Image.open(files[0]) as image:
        original = np.asarray(image.convert("RGB"))
    np.testing.assert_allclose(browser.images[0].astype(int), original.astype(int), atol=1)
    assert browser.layer.options == ("conv1", "conv2") and browser.input.max == 1


def test_inputs_that_are_not_images_are_refused():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4))
    with pytest.raises(InputError, match="browse shows images"):
        ls.browse(model, torch.zeros(2, 12))
