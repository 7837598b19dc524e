"""The explorer in Chromium: upload shows a grid, switching layers works, the fake camera's frames change the maps."""

from __future__ import annotations

import pytest

from layerscope.serve import Explorer

from ..browser import Watch, launch, playwright, screenshot, tile_center  # noqa: F401 - the fixture
from .conftest import Running
from .helpers import stripes, write_y4m


@pytest.fixture(scope="module")
def digits():
    """The explorer serving the builtin digits network (trained), with the sample photos to pick."""
    server = Running(Explorer("builtin:digits"))
    yield server
    server.stop()


def test_upload_shows_a_grid_and_layers_switch(playwright, digits, tmp_path):  # noqa: F811
    browser = launch(playwright)
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        watch = Watch(page)
        page.goto(digits.url)
        from layerscope.zoo import write_sample_images

        digit = write_sample_images(tmp_path, count=4, photos=(), overwrite=True)[3]
        picture = digit.rename(tmp_path / "three <b>.png")
        page.set_input_files("#ls-file", str(picture))
        page.locator("#ls-result img.ls-grid").wait_for()
        assert page.locator("#ls-result .ls-layer h3 code").inner_text() == "conv1"
        assert page.locator(".ls-input-name").inner_text() == "three <b>.png"
        assert page.locator(".ls-pred-label").first.inner_text() == "3"  # the trained network reads the digit
        with page.expect_response(lambda response: "/api/analyze" in response.url) as answer:
            page.select_option("#ls-layer", "1")
        geometry = answer.value.json()["data"]["layers"][0]["geometry"]
        page.locator("#ls-result .ls-layer h3 code", has_text="conv2").wait_for()
        page.mouse.click(*tile_center(page, "#ls-result img.ls-grid", 0, geometry))
        page.locator("#ls-v-title", has_text="conv2 · channel 0").wait_for()
        screenshot(page, "explorer-channel.png", tmp_path)
        page.keyboard.press("Escape")
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "explorer.png", tmp_path, full_page=True)
        assert watch.problems == []
        assert all(url.startswith((digits.url, "data:")) for url in watch.requests)
    finally:
        browser.close()


def test_live_camera_maps_change_when_the_frames_change(playwright, digits, tmp_path):  # noqa: F811
    vertical, horizontal = (stripes(v, 64)[:, :, 0] for v in (True, False))
    camera = write_y4m(tmp_path / "camera.y4m", [vertical] * 5 + [horizontal] * 5, fps=10)
    browser = launch(playwright, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-video-capture={camera}")
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        watch = Watch(page)
        page.goto(digits.url)
        page.click("#ls-live")
        stats = page.locator("#ls-live-stats")
        for _ in range(600):  # at most about a minute on a busy machine
            if int(stats.get_attribute("data-frames") or 0) >= 8 and int(stats.get_attribute("data-distinct") or 0) >= 2:
                break
            page.wait_for_timeout(100)
        assert int(stats.get_attribute("data-distinct")) >= 2, "the live maps follow the camera's frames"
        screenshot(page, "explorer-live.png", tmp_path)
        page.click("#ls-live")  # stop
        assert watch.problems == []
    finally:
        browser.close()
