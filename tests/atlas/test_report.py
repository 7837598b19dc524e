"""The atlas in the report: under 10 MB for 10,000 points, opened in Chromium (thumbnails decoded per cell on zoom
and on a click, nothing fetched, no error), hostile names shown as text."""

from __future__ import annotations

import numpy as np
import pytest

from layerscope.atlas import atlas
from layerscope.reporting.page import Page
from layerscope.reporting.sections import as_sections

from ..browser import Watch, launch, playwright, screenshot  # noqa: F401 - the fixture
from ..report.helpers import HOSTILE

LIMIT = 10_000_000  # bytes: the bound for a report holding a 10,000-point atlas


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 10,000-point atlas of 10 clustered classes whose thumbnails are noise (the worst case for PNG), with
    hostile names, written as a report."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 10_000)
    vectors = rng.normal(0, 1, (10, 64))[labels] * 4 + rng.normal(0, 1, (10_000, 64))
    names = [f"{HOSTILE}{i}.png" for i in range(10_000)]
    result = atlas(vectors.astype(np.float32), images=lambda i: rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
                   labels=[f"class {v}" for v in labels], names=names, grid=24, seed=0)
    path = tmp_path_factory.mktemp("atlas") / "report.html"
    path.write_text(Page(title="atlas", sections=as_sections([result])).html(), encoding="utf-8")
    return result, path


@pytest.mark.slow
def test_the_report_of_10000_points_stays_under_10_mb(big):
    result, path = big
    assert len(result) == 10_000 and len(result.thumbnails) > 4 * len(result.cells) // 2
    assert path.stat().st_size < LIMIT


@pytest.mark.slow
def test_hostile_names_are_escaped_in_the_file(big):
    _, path = big
    text = path.read_text(encoding="utf-8")
    assert "<img src=x" not in text and "<script>self" not in text and "</template><script>" not in text


@pytest.fixture(scope="module")
def browser(playwright):  # noqa: F811
    chromium = launch(playwright)
    yield chromium
    chromium.close()


@pytest.mark.slow
def test_cells_decode_their_thumbnails_on_zoom_and_a_click_lists_them_as_text(browser, big, tmp_path):
    result, path = big
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    watch = Watch(page)
    page.goto(path.as_uri())
    root = page.locator(".ls-atlas")
    canvas = page.locator(".ls-atlas-map")
    canvas.scroll_into_view_if_needed()
    assert root.get_attribute("data-loaded") == "0"  # nothing decoded at the overview (cells too small)
    cell = max(result.cells, key=lambda c: len(c.members))
    box = canvas.bounding_box()
    rows, cols = result.grid
    x = box["x"] + (cell.col + 0.5) * box["width"] / cols
    y = box["y"] + (cell.row + 0.5) * box["height"] / rows
    page.mouse.move(x, y)
    for _ in range(8):
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(50)
    page.wait_for_function("Number(document.querySelector('.ls-atlas').dataset.loaded) > 0")
    decoded = int(root.get_attribute("data-loaded"))
    assert 0 < decoded < len(result.thumbnails)  # only the cells on screen, never all of them
    assert float(root.get_attribute("data-scale")) > 1
    page.mouse.click(x, y)  # the zoom kept the point under the cursor: the same cell
    shelf = page.locator(".ls-atlas-thumbs img")
    page.wait_for_function("[...document.querySelectorAll('.ls-atlas-thumbs img')].every(i => i.complete && i.naturalWidth > 0)")
    assert shelf.count() == len(cell.top)
    captions = page.locator(".ls-atlas-thumbs figcaption").all_text_contents()
    assert captions == [result.names[i] for i in cell.top.tolist()]  # the hostile text, shown as text
    assert f"{len(cell.members)} point" in page.locator(".ls-atlas-info").text_content()
    screenshot(page, "atlas.png", tmp_path)
    assert page.evaluate("self.pwned") is None
    assert not watch.problems and all(url.startswith(("file:", "data:")) for url in watch.requests)


def test_the_worst_case_report_of_10000_points_stays_under_10_mb():
    """Every cell of the default 24 x 24 grid occupied, each with 4 thumbnails of noise (what compresses worst):
    the most a 10,000-point atlas can put in the report with the default settings."""
    from layerscope.atlas.layout import Atlas, bin_cells

    rng = np.random.default_rng(0)
    coords = rng.random((10_000, 2)).astype(np.float32)
    labels = [f"class {v}" for v in rng.integers(0, 10, 10_000)]
    cells = bin_cells(coords, (24, 24), labels=labels)
    thumbs = {i: rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for c in cells for i in c.top.tolist()}
    result = Atlas(coords, cells, (24, 24), labels=labels, names=[f"{HOSTILE}{i}.png" for i in range(10_000)],
                   thumbnails=thumbs)
    assert len(cells) == 576 and len(thumbs) == 4 * 576
    html = Page(title="atlas", sections=as_sections([result])).html()
    assert len(html.encode("utf-8")) < LIMIT
    assert html.count("data:image/") >= 4 * 576  # one small picture per member shown, no sprite
