"""The report at size: ResNet-50 (random init), 4 images, every conv layer (53), against ``show`` of the same layers.

    python benchmarks/bench_report.py [--quick] [--json OUT] [--model torchvision:resnet50] [--rounds 5] [--loads 5]
                                      [--cpu] [--threads N] [--loads 0]

In one process, with the model loaded once, interleaved rounds time ``report`` with its diagnosis (the
default: the layers judged by a ``DiagnosisStream`` fed by the forward the report renders), ``report``
without it (capture, render, write) and ``show`` of the same layers on the same images writing its PNG
files; each report's ratio to ``show`` within a round has the target <= 2. ``--cpu`` adds the same ratios
in CPU time of the process (``time.process_time``), which a busy shared machine inflates far less than
the wall time; with ``--threads 1`` idle worker threads do not spin into it either. The file: <= 8 MB.
Chromium (Debian's,
/usr/bin/chromium) opens it from file:// in a fresh page per load: first-contentful-paint (<= 0.5 s) and
loadEventEnd (<= 1 s) from the Performance API, and a channel opened by a real click on a tile of conv1
and of the deepest layer, timed until the viewer shows it. Medians over ``--loads`` page loads (0: no
browser).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import layerscope as ls  # noqa: E402
from benchmarks.common import figure_row, interleave, ratio_row, write_rows  # noqa: E402
from layerscope.io import load_model  # noqa: E402
from layerscope.run import Subject  # noqa: E402
from layerscope.zoo import PHOTOS, write_sample_images  # noqa: E402
from tests.browser import CHROMIUM, tile_center  # noqa: E402

SUITE = "report"
LAYERS = "type:Conv2d"


def open_channel(page, layer: int, view) -> float:
    selector = f'img.ls-grid[data-layer="{layer}"][data-input="0"]'
    x, y = tile_center(page, selector, 0, view.geometry)
    start = time.perf_counter()
    page.mouse.click(x, y)
    page.locator("#ls-v-title", has_text=f"{view.name} · channel {view.channels[0]}").wait_for()
    seconds = time.perf_counter() - start
    page.keyboard.press("Escape")
    return seconds


def measure(path: Path, result, loads: int) -> dict[str, list[float]]:
    """Seconds to first paint, to the load event and to open a channel, per page load."""
    from playwright.sync_api import sync_playwright

    deep = len(result.page.layers) - 1
    figures: dict[str, list[float]] = {"first paint": [], "load event": [], "open conv1 channel": [],
                                       "open deepest channel": []}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM)
        for _ in range(loads):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(path.as_uri(), wait_until="load")
            while not page.evaluate("performance.getEntriesByName('first-contentful-paint').length"):
                page.wait_for_timeout(5)
            timing = page.evaluate("[performance.getEntriesByName('first-contentful-paint')[0].startTime,"
                                   " performance.getEntriesByType('navigation')[0].loadEventEnd]")
            figures["first paint"].append(timing[0] / 1000)
            figures["load event"].append(timing[1] / 1000)
            figures["open conv1 channel"].append(open_channel(page, 0, result.page.layers[0]))
            figures["open deepest channel"].append(open_channel(page, deep, result.page.layers[deep]))
            page.close()
        browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="torchvision:resnet50")
    parser.add_argument("--quick", action="store_true", help="3 rounds, 3 page loads")
    parser.add_argument("--json", metavar="OUT", help="write the rows here (benchmarks/common.py format)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5; 3 with --quick)")
    parser.add_argument("--loads", type=int, default=None, help="page loads (default 5; 3 with --quick; 0: none)")
    parser.add_argument("--cpu", action="store_true", help="also the ratios in CPU time, and the load average")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", default=None, help="folder for the images and the outputs (default: a temp folder)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    loads = args.loads if args.loads is not None else (3 if args.quick else 5)
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = Path(args.out or tempfile.mkdtemp())
    images = [str(p) for p in write_sample_images(folder / "images", count=1, photos=PHOTOS, overwrite=True)]
    subject = Subject.of(load_model(args.model), LAYERS)
    page, shown = folder / "report.html", folder / "show"
    made = {}

    def report(**fields):
        made["report"] = ls.report(subject, images, out=page, overwrite=True, **fields)

    def show():
        ls.show(subject, images, out=shown, overwrite=True)

    jobs = {"report": report, "report, no diagnosis": lambda: report(diagnosis=False), "show": show}
    for job in jobs.values():  # warm-up: first-call costs (imports, allocator, weight spectra) out of the rounds
        job()
    load = os.getloadavg()[0]
    cpu: dict[str, list[float]] = {}
    times = interleave(jobs, rounds, cpu=cpu if args.cpu else None)
    report()
    result = made["report"]
    bare = ls.report(subject, images, diagnosis=False)
    chromium = measure(result.path, result, loads) if loads else {}
    where = (f"{args.model}, {len(result.page.layers)} conv layers x {len(result.page.inputs)} inputs, "
             f"{torch.get_num_threads()} threads, load {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    rows = []
    for clock, found in (("", times), (" (CPU time)", cpu)):
        if not found:
            continue
        show_s = statistics.median(found["show"])
        for key, what in (("report", "with the diagnosis"), ("report, no diagnosis", "no diagnosis")):
            rows.append(ratio_row(f"report / show, {what}{clock}", found[key], found["show"], target="<= 2",
                                  meets=lambda v: v <= 2, detail=f"{statistics.median(found[key]):.2f} s vs "
                                                                 f"{show_s:.2f} s, {rounds} rounds; {where}"))
    rows.append(figure_row("report size", result.size / 1e6, "MB", target="<= 8", meets=lambda v: v <= 8,
                           detail=f"{bare.size / 1e6:.2f} MB without the diagnosis"))
    targets = {"first paint": 0.5, "load event": 1.0}
    for name, values in chromium.items():
        limit = targets.get(name)
        rows.append(figure_row(f"{name} in Chromium", statistics.median(values), "s",
                               target=f"<= {limit}" if limit else "", meets=(lambda v, t=limit: v <= t) if limit else None,
                               detail=f"median of {loads} loads: " + ", ".join(f"{v:.3f}" for v in values),
                               low=min(values), high=max(values)))
    print(f"{where}; 64 channels per layer at most")
    print("| measure | value | target | met | detail |\n|---|---|---|---|---|")
    for row in rows:
        span = f" [{row['low']:.3g}, {row['high']:.3g}]" if row["low"] is not None else ""
        print(f"| {row['measure']} | {row['value']:.3g} {row['unit']}{span} | {row['target']} | {row['met']} | "
              f"{row['detail']} |")
    write_rows(args.json, SUITE, rows, model=args.model, layers=LAYERS, inputs=len(images))


if __name__ == "__main__":
    main()
