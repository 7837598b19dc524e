"""The report in Chromium, opened from file://: no console error, no request, a channel opens with its values."""

from __future__ import annotations

import pytest
import torch

import layerscope as ls

from ..browser import Watch, launch, playwright, screenshot, tile_center  # noqa: F401 - the fixture
from .helpers import HOSTILE, hostile_model, report_of_noise

FILE_NAME = "<img src=x onerror=alert(2)>'\"&amp;.png"
PRE = ls.Preprocessing(None, None, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 3)


@pytest.fixture(scope="module")
def browser(playwright):  # noqa: F811
    chromium = launch(playwright)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A report of the builtin digits network on three of its held-out digits, and the true conv1 maps."""
    from layerscope.zoo import write_sample_images

    folder = tmp_path_factory.mktemp("digits")
    paths = [str(p) for p in write_sample_images(folder, count=3, photos=(), overwrite=True)]
    result = ls.report("builtin:digits", paths, out=folder / "digits.html")
    return result, ls.capture("builtin:digits", paths, layers=["conv1"])["conv1"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A report whose layer name and file name are markup, on a model with hand-picked preprocessing."""
    torch.manual_seed(0)
    return report_of_noise(hostile_model(), tmp_path_factory.mktemp("hostile"), FILE_NAME, preprocessing=PRE)


def test_report_opens_offline_and_a_channel_shows_the_value_under_the_cursor(browser, digits, tmp_path):
    result, truth = digits
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    watch = Watch(page)
    page.goto(result.path.as_uri())
    page.wait_for_load_state("load")
    assert watch.requests == [result.path.as_uri()], "nothing but the file itself is requested"
    screenshot(page, "report.png", tmp_path)
    view = result.page.layers[0]
    page.mouse.click(*tile_center(page, 'img.ls-grid[data-layer="0"][data-input="1"]', 2, view.geometry))
    page.locator("#ls-v-title", has_text="conv1 · channel 2").wait_for()
    canvas = page.locator("#ls-v-canvas").bounding_box()
    h, w = truth.shape[-2:]
    for x, y in [(3, 4), (w - 1, 0), (10, h - 2), (12, 12)]:
        page.mouse.move(canvas["x"] + (x + 0.5) * canvas["width"] / w, canvas["y"] + (y + 0.5) * canvas["height"] / h)
        page.locator("#ls-v-value", has_text=f"x {x}, y {y}:").wait_for()
        shown = float(page.get_attribute("#ls-v-value", "data-value"))
        step = view.level_step * (view.hi[2] - view.lo[2]) / 251  # the report's grids use every 2nd level
        assert shown == pytest.approx(float(truth[1, 2, y, x]), abs=step / 2 * 1.001)
    page.check("#ls-v-overlay")
    page.select_option("#ls-v-norm", "robust")
    page.select_option("#ls-v-cmap", "magma")
    page.keyboard.press("ArrowRight")
    page.locator("#ls-v-title", has_text="conv1 · channel 3").wait_for()
    screenshot(page, "report-channel.png", tmp_path)
    assert watch.problems == [] and len(watch.requests) == 1


def test_hostile_names_are_shown_as_text_and_never_run(browser, hostile):
    result = hostile
    page = browser.new_page()
    watch = Watch(page)
    page.goto(result.path.as_uri())
    page.wait_for_load_state("load")
    assert page.locator("#layer-1 h3 code").inner_text() == HOSTILE
    assert FILE_NAME in page.locator(".ls-input-name").all_inner_texts()
    page.mouse.click(*tile_center(page, 'img.ls-grid[data-layer="1"][data-input="0"]', 0, result.page.layers[1].geometry))
    page.locator("#ls-v-title", has_text="channel 0").wait_for()
    assert page.locator("#ls-v-title").inner_text() == f"{HOSTILE} · channel 0"
    assert page.evaluate("typeof self.pwned") == "undefined"
    assert watch.problems == [] and watch.dialogs == []


def test_a_map_larger_than_its_grid_opens_as_block_means_with_their_values(browser, tmp_path):
    """64 channels of 96x96 in a grid drawn ~300 pixels wide: tiles of 32x32, each pixel the mean of a 3x3 block."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1))
    x = torch.rand(1, 3, 96, 96)
    result = ls.report(model, x, out=tmp_path / "big.html", diagnosis=False)
    view = result.page.layers[0]
    assert (view.geometry["pool"], view.geometry["map_w"]) == (3, 32)
    truth = model(x)[0, 5].detach().double().numpy().reshape(32, 3, 32, 3).mean(axis=(1, 3))  # block means
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    watch = Watch(page)
    page.goto(result.path.as_uri())
    page.mouse.click(*tile_center(page, 'img.ls-grid[data-layer="0"][data-input="0"]', 5, view.geometry))
    page.locator("#ls-v-sub", has_text="each pixel the mean of 3x3").wait_for()
    canvas = page.locator("#ls-v-canvas").bounding_box()
    step = view.level_step * (view.hi[5] - view.lo[5]) / 251
    for px, py in [(0, 0), (31, 7), (12, 30)]:
        page.mouse.move(canvas["x"] + (px + 0.5) * canvas["width"] / 32, canvas["y"] + (py + 0.5) * canvas["height"] / 32)
        page.locator("#ls-v-value", has_text=f"x {px}, y {py} (the mean of the layer's x {3 * px}-{3 * px + 2}").wait_for()
        shown = float(page.get_attribute("#ls-v-value", "data-value"))
        assert shown == pytest.approx(truth[py, px], abs=step / 2 * 1.001)
    assert watch.problems == []
