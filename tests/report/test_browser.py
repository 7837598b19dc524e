"""The report in Chromium, opened from file://: no console error, no request, a channel opens with its values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import layerscope as ls

from ..browser import Watch, launch, playwright, screenshot, tile_center  # noqa: F401 - the fixture
from .helpers import HOSTILE, hostile_model

FILE_NAME = "<img src=x onerror=alert(2)>'\"&amp;.png"
PRE = ls.Preprocessing(None, None, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 3)


@pytest.fixture(scope="module")
def browser(playwright):  # noqa: F811
    chromium = launch(playwright)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    images = []
    for i, name in enumerate(["ramp.png", FILE_NAME]):
        array = np.clip(np.linspace(0, 255, 24)[None, :, None] + rng.normal(0, 40, (24, 24, 3)) * i, 0, 255)
        images.append(folder / name)
        Image.fromarray(array.astype(np.uint8)).save(images[-1])
    torch.manual_seed(0)
    model = hostile_model()
    result = ls.report(model, [str(p) for p in images], out=folder / "report.html", preprocessing=PRE)
    truth = model.conv(torch.stack([PRE(Image.open(p).convert("RGB")) for p in images])).detach()
    return result, truth


def test_report_opens_offline_and_a_channel_shows_the_value_under_the_cursor(browser, built, tmp_path):
    result, truth = built
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    watch = Watch(page)
    page.goto(result.path.as_uri())
    page.wait_for_load_state("load")
    assert watch.requests == [result.path.as_uri()], "nothing but the file itself is requested"
    screenshot(page, "report.png", tmp_path)
    view = result.page.layers[0]
    page.mouse.click(*tile_center(page, 'img.ls-grid[data-layer="0"][data-input="1"]', 2, view.geometry))
    page.locator("#ls-v-title", has_text="conv · channel 2").wait_for()
    canvas = page.locator("#ls-v-canvas").bounding_box()
    h, w = truth.shape[-2:]
    for x, y in [(3, 4), (w - 1, 0), (10, h - 2)]:
        page.mouse.move(canvas["x"] + (x + 0.5) * canvas["width"] / w, canvas["y"] + (y + 0.5) * canvas["height"] / h)
        page.locator("#ls-v-value", has_text=f"x {x}, y {y}:").wait_for()
        shown = float(page.get_attribute("#ls-v-value", "data-value"))
        step = (view.hi[2] - view.lo[2]) / 251
        assert shown == pytest.approx(float(truth[1, 2, y, x]), abs=step / 2 * 1.001)
    page.check("#ls-v-overlay")
    page.select_option("#ls-v-norm", "robust")
    page.select_option("#ls-v-cmap", "gray")
    page.keyboard.press("ArrowRight")
    page.locator("#ls-v-title", has_text="conv · channel 3").wait_for()
    screenshot(page, "report-channel.png", tmp_path)
    assert watch.problems == [] and len(watch.requests) == 1


def test_hostile_names_are_shown_as_text_and_never_run(browser, built):
    result, _ = built
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
