"""The report at size: ResNet-50, 4 images, every conv layer (53): build time (with and without the
diagnosis), file size, and in Chromium the time to first paint, to the load event and to open a channel.

    python benchmarks/bench_report.py [--model torchvision:resnet50] [--loads 5] [--out DIR]

Chromium (Debian's, /usr/bin/chromium) opens the file from file:// in a fresh page per load; the
channel is opened by a real click on a tile of the largest grid (conv1) and of a deep layer, and
timed until the viewer shows it. Medians over ``--loads`` page loads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import layerscope as ls  # noqa: E402
from layerscope.zoo import PHOTOS, write_sample_images  # noqa: E402
from tests.browser import CHROMIUM, tile_center  # noqa: E402


def open_channel(page, layer: int, view) -> float:
    selector = f'img.ls-grid[data-layer="{layer}"][data-input="0"]'
    x, y = tile_center(page, selector, 0, view.geometry)
    start = time.perf_counter()
    page.mouse.click(x, y)
    page.locator("#ls-v-title", has_text=f"{view.name} · channel {view.channels[0]}").wait_for()
    seconds = time.perf_counter() - start
    page.keyboard.press("Escape")
    return seconds


def measure(path: Path, result, loads: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    deep = len(result.page.layers) - 1
    figures: dict[str, list[float]] = {"first paint": [], "load event": [], "open conv1 channel": [], "open deepest channel": []}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM)
        for _ in range(loads):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(path.as_uri(), wait_until="commit")
            while not page.evaluate("performance.getEntriesByName('first-contentful-paint').length"):
                page.wait_for_timeout(5)
            page.wait_for_load_state("load")
            timing = page.evaluate("[performance.getEntriesByName('first-contentful-paint')[0].startTime,"
                                   " performance.getEntriesByType('navigation')[0].loadEventEnd]")
            figures["first paint"].append(timing[0] / 1000)
            figures["load event"].append(timing[1] / 1000)
            figures["open conv1 channel"].append(open_channel(page, 0, result.page.layers[0]))
            figures["open deepest channel"].append(open_channel(page, deep, result.page.layers[deep]))
            page.close()
        browser.close()
    return {name: statistics.median(values) for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="torchvision:resnet50")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--out", default=None, help="folder for the images and the report (default: a temp folder)")
    args = parser.parse_args()
    folder = Path(args.out or tempfile.mkdtemp())
    images = [str(p) for p in write_sample_images(folder / "images", count=1, photos=PHOTOS, overwrite=True)]
    start = time.perf_counter()
    bare = ls.report(args.model, images, "type:Conv2d", diagnosis=False)
    without = time.perf_counter() - start
    start = time.perf_counter()
    result = ls.report(args.model, images, "type:Conv2d", folder / "report.html", overwrite=True)
    built = time.perf_counter() - start
    figures = measure(result.path, result, args.loads)
    print(f"{args.model}: {len(result.page.layers)} layers x {len(result.page.inputs)} inputs, "
          f"64 channels per layer at most")
    print("| | |\n|---|---|")
    print(f"| build: capture, diagnose, render, write | {built:.1f} s |")
    print(f"| build without the diagnosis (`diagnosis=False`) | {without:.1f} s |")
    print(f"| file size | {result.size / 1e6:.1f} MB ({bare.size / 1e6:.1f} MB without the diagnosis) |")
    for name, value in figures.items():
        print(f"| {name} (median of {args.loads}) | {1000 * value:.0f} ms |")


if __name__ == "__main__":
    main()
