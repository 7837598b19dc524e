"""Debian's Chromium driven by Playwright, for the tests that need a real browser.

Playwright cannot download its own browser here, so it drives ``/usr/bin/chromium`` (``.ci/run``
installs it when missing). Without it the browser tests skip with the reason, except under CI
(``CI`` set), where they fail: the browser tests must run there. ``LAYERSCOPE_SCREENSHOTS=DIR``
keeps the screenshots the tests take (the README's pictures come from there).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LAYERSCOPE_CHROMIUM", "/usr/bin/chromium")


def _missing() -> str:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return ""


def launch(playwright, *args: str):
    """Chromium with the given extra command-line switches (headless)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=list(args))


@pytest.fixture(scope="module")
def playwright():
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run under CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


def screenshot(page, name: str, tmp_path: Path, **options) -> Path:
    """Save a screenshot in ``tmp_path`` and, when ``LAYERSCOPE_SCREENSHOTS`` names a folder, copy it there."""
    path = tmp_path / name
    page.screenshot(path=str(path), **options)
    keep = os.environ.get("LAYERSCOPE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(keep) / name)
    assert path.stat().st_size > 10_000
    return path


class Watch:
    """Console messages, page errors, dialogs and requests of a page."""

    def __init__(self, page) -> None:
        self.console, self.errors, self.dialogs, self.requests = [], [], [], []
        page.on("console", lambda m: self.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: self.requests.append(r.url))

    @property
    def problems(self) -> list:
        return [m for m in self.console if m[0] in ("error", "warning")] + self.errors + self.dialogs


def tile_center(page, grid_selector: str, pos: int, geometry: dict) -> tuple[float, float]:
    """Page coordinates of the middle of tile ``pos`` of a grid image (``geometry`` from the layer's data)."""
    grid = page.locator(grid_selector)
    grid.scroll_into_view_if_needed()
    box, g = grid.bounding_box(), geometry
    x = g["left"] + (pos % g["cols"]) * g["cell_w"] + g["map_w"] / 2
    y = g["top"] + (pos // g["cols"]) * g["cell_h"] + g["map_h"] / 2
    return box["x"] + x * box["width"] / g["width"], box["y"] + y * box["height"] / g["height"]
