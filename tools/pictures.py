"""Every committed picture in ``docs/images``, from one script.

    PYTHONPATH=src:. python tools/pictures.py [--out docs/images] [--only NAME ...] [--check]

Groups (``--only`` takes their names; ``--list`` prints them):

- ``start-here``: the demo's ``start-here.png`` (:mod:`layerscope.demo`: digits net on held-out digits,
  EfficientNet-Lite0 on the cat photo and an offline photo set, each beside its untrained copy);
- ``views``: ``grid.png`` (EfficientNet-Lite0 ``blocks.1`` on the cat photo, all 24 channels numbered, one robust
  layer scale with its colour bar), ``mean.png``, ``overlay.png``, ``pca.png``, ``figure.png`` (``blocks.3``) and
  ``progression.png`` (blocks 0, 3, 5);
- ``cards``: ``cards/blocks.1-channel-{9,14,20}.png``, EfficientNet-Lite0 channel cards from a scan of the offline
  patch set (:func:`layerscope.zoo.sample_patches`, 81 patches) and the cat photo;
- ``train``: ``train/*.png`` of ``examples/train_digits_monitor.py`` (digits net trained on digits);
- ``browser``: ``report.png``, ``report-channel.png`` (a report of the digits net on held-out digits),
  ``explorer.png``, ``explorer-live.png`` (the explorer serving the digits net, offering digits; its fake camera
  films a held-out digit), Chromium
  screenshots taken in a temporary folder entered as the working directory, so no machine path shows;
- and ``make(images: Path) -> list[Path]`` of every ``tools/pictures_*.py`` module (its group is the module's name
  after ``pictures_``), which writes under ``images``; its optional ``TOLERANT`` (as below, names relative to
  ``images``) names the pictures of it that another program draws.

``--check`` writes everything into a temporary folder and compares it with the committed files: byte for byte,
except the groups drawn by another program (matplotlib's ``figure.png`` and chart, Chromium's screenshots), whose
pixels must match within a tolerance (:data:`TOLERANT`). It also fails on a committed picture that no group makes.
Offline; all groups take about 10 minutes on 2 busy CPU cores, most of it the cards' visualizations.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
MODEL = "builtin:efficientnet_lite0"
CARD_LAYER, CARD_CHANNELS = "blocks.1", (9, 14, 20)
# pixels differing by more than LEVEL (of 255) in any colour, at most SHARE of them: pictures another program draws
TOLERANT = {"figure.png": (0.002, 8), "train/cka_per_epoch.png": (0.002, 8), "report.png": (0.01, 24),
            "report-channel.png": (0.01, 24), "explorer.png": (0.01, 24), "explorer-live.png": (0.02, 24),
            # trained here: another CPU's float rounding may move a few pixels of what training makes
            "train/conv1_maps_per_epoch.png": (0.01, 16), "train/conv1_untrained_vs_trained.png": (0.01, 16)}


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    """Run with ``folder`` as the working directory (so relative input paths are what pages show)."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def start_here(images: Path, work: Path) -> list[Path]:
    from layerscope.demo.run import run_demo

    demo = run_demo(work / "demo", log=lambda line: None)
    shutil.copyfile(demo.start_here, images / "start-here.png")
    return [images / "start-here.png"]


def views(images: Path, work: Path) -> list[Path]:
    import layerscope as ls
    from layerscope.zoo import write_sample_images

    photo = write_sample_images(work / "in", count=0, photos=("chelsea",))[0]
    ls.show(MODEL, photo, ["blocks.1"], work / "grid", views="grid", max_channels=0, labels=True, colorbar=True,
            normalize="robust-layer", columns=8)
    ls.show(MODEL, photo, ["blocks.0", "blocks.3", "blocks.5"], work / "views", max_channels=16,
            views="mean,overlay,pca,progression,figure")
    written = {"grid.png": work / "grid" / "chelsea" / "00_blocks.1.png",
               "progression.png": work / "views" / "chelsea" / "progression.png",
               **{f"{view}.png": work / "views" / "chelsea" / f"01_blocks.3.{view}.png"
                  for view in ("mean", "overlay", "pca", "figure")}}
    for name, source in written.items():
        shutil.copyfile(source, images / name)
    return [images / name for name in written]


def cards(images: Path, work: Path) -> list[Path]:
    import layerscope as ls
    from layerscope.explain import card
    from layerscope.render.png import save_png
    from layerscope.zoo import sample_patches, write_sample_images

    patches, sources = sample_patches()
    folder = work / "patches"
    folder.mkdir()
    for pixels, source in zip(patches, sources):
        save_png(pixels, folder / f"{source.replace('@', '-').replace(',', '-')}.png")
    stats = ls.scan(MODEL, folder, [CARD_LAYER], out=work / "scan", k=3, progress=False)
    chelsea = write_sample_images(work / "in", count=0, photos=("chelsea",))
    out = images / "cards"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for channel in CARD_CHANNELS:
        found = card(MODEL, CARD_LAYER, channel, stats=stats, images=chelsea)
        written.append(found.save_png(out / f"{CARD_LAYER}-channel-{channel}.png", overwrite=True))
    return written


def train(images: Path, work: Path) -> list[Path]:
    out = images / "train"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, str(ROOT / "examples" / "train_digits_monitor.py"), "--out", str(work / "train"),
                    "--pictures", str(out)], check=True, env=env, stdout=subprocess.DEVNULL)
    return sorted(out.glob("*.png"))


def browser(images: Path, work: Path) -> list[Path]:
    import layerscope as ls
    from playwright.sync_api import sync_playwright

    from layerscope.serve import Explorer
    from layerscope.serve.run import _server, free_port
    from layerscope.zoo import write_sample_images
    from tests.browser import launch, tile_center
    from tests.serve.helpers import write_y4m

    with _inside(work), sync_playwright() as driver:
        digits = [p.relative_to(work) for p in write_sample_images(work / "digits", count=6, photos=())]
        report = ls.report("builtin:digits", [str(p) for p in digits[:3]], out="report.html")
        chromium = launch(driver)
        page = chromium.new_page(viewport={"width": 1200, "height": 900})
        page.goto(report.path.resolve().as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(images / "report.png"))
        page.mouse.click(*tile_center(page, 'img.ls-grid[data-layer="0"][data-input="1"]', 3,
                                      report.page.layers[0].geometry))
        page.locator("#ls-v-title", has_text="conv1 · channel 3").wait_for()
        page.select_option("#ls-v-norm", "robust")
        page.screenshot(path=str(images / "report-channel.png"))
        chromium.close()

        explorer = Explorer("builtin:digits", images=[str(p) for p in digits[3:]], samples=False)
        port = free_port()
        server = _server(explorer, "127.0.0.1", port, "warning")
        import threading

        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            thread.join(0.05)
        url = f"http://127.0.0.1:{port}/"
        try:
            chromium = launch(driver)
            page = chromium.new_page(viewport={"width": 1200, "height": 1000})
            page.goto(url)
            page.set_input_files("#ls-file", str(digits[3]))
            page.locator("#ls-result img.ls-grid").wait_for()
            page.locator(".ls-pred-label").first.wait_for()
            page.evaluate("document.getElementById('ls-status').textContent = ''")  # a timing, different every run
            page.screenshot(path=str(images / "explorer.png"), full_page=True)
            chromium.close()
            from PIL import Image

            seen = Image.open(digits[4]).convert("L").resize((224, 224), Image.Resampling.BILINEAR)
            camera = write_y4m(work / "camera.y4m", [np.asarray(seen)] * 10, fps=10)  # a digit held to the camera
            chromium = launch(driver, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                              f"--use-file-for-fake-video-capture={camera}")
            page = chromium.new_page(viewport={"width": 1200, "height": 800})
            page.goto(url)
            page.click("#ls-live")
            stats = page.locator("#ls-live-stats")
            for _ in range(600):
                if int(stats.get_attribute("data-frames") or 0) >= 8:
                    break
                page.wait_for_timeout(100)
            page.screenshot(path=str(images / "explorer-live.png"))
            chromium.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    return [images / name for name in ("report.png", "report-channel.png", "explorer.png", "explorer-live.png")]


GROUPS: dict[str, Callable[[Path, Path], list[Path]]] = {
    "start-here": start_here, "views": views, "cards": cards, "train": train, "browser": browser}


def _modules() -> dict[str, Callable[[Path, Path], list[Path]]]:
    """``make`` of every ``tools/pictures_*.py``, by the module's name after ``pictures_``."""
    found = {}
    for path in sorted(Path(__file__).parent.glob("pictures_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        TOLERANT.update(getattr(module, "TOLERANT", {}))  # its pictures another program draws, as TOLERANT here
        found[path.stem.removeprefix("pictures_")] = lambda images, work, make=module.make: make(images)
    return found


def groups() -> dict[str, Callable[[Path, Path], list[Path]]]:
    return {**GROUPS, **_modules()}


def make(images: Path, only: list[str] | None = None) -> list[Path]:
    """Write the pictures of ``only`` (default: every group) under ``images``; returns their paths."""
    chosen = groups()
    unknown = [name for name in only or () if name not in chosen]
    if unknown:
        raise SystemExit(f"unknown group {unknown[0]!r}; choose from: {', '.join(chosen)}")
    images.mkdir(parents=True, exist_ok=True)
    written = []
    for name, group in chosen.items():
        if only and name not in only:
            continue
        with tempfile.TemporaryDirectory(prefix="pictures-") as work:
            made = group(images, Path(work).resolve())
        written += made
        print(f"{name}: " + ", ".join(str(p.relative_to(images)) for p in made), flush=True)
    return written


def differs(name: str, made: Path, committed: Path) -> str:
    """Why ``made`` is not ``committed`` ("" when it is): bytes, or pixels within the tolerance of ``name``."""
    if not committed.is_file():
        return "not committed"
    if made.read_bytes() == committed.read_bytes():
        return ""
    if name not in TOLERANT:
        return "bytes differ"
    from PIL import Image

    a, b = (np.asarray(Image.open(p).convert("RGB"), np.int16) for p in (made, committed))
    if a.shape != b.shape:
        return f"size {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}"
    share, level = TOLERANT[name]
    off = float((np.abs(a - b).max(axis=-1) > level).mean())
    return f"{100 * off:.2f}% of pixels differ by more than {level}" if off > share else ""


def check(images: Path, only: list[str] | None = None) -> list[str]:
    """The problems of the committed pictures under ``images`` against a fresh run (empty: they are current)."""
    with tempfile.TemporaryDirectory(prefix="pictures-check-") as fresh:
        fresh = Path(fresh)
        made = make(fresh, only)
        names = {p.relative_to(fresh).as_posix() for p in made}
        problems = [f"{name}: {why}" for name in sorted(names)
                    if (why := differs(name, fresh / name, images / name))]
    if not only:
        committed = {p.relative_to(images).as_posix() for p in images.rglob("*.png")}
        problems += [f"{name}: committed, but no group makes it" for name in sorted(committed - names)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMAGES, help="where the pictures go (default docs/images)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these groups (see --list)")
    parser.add_argument("--check", action="store_true", help="regenerate into a temporary folder and compare")
    parser.add_argument("--list", action="store_true", help="print the groups and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(groups()))
        return 0
    if args.check:
        problems = check(args.out.resolve(), args.only)
        print("\n".join(problems) or "the committed pictures are current")
        return 1 if problems else 0
    make(args.out.resolve(), args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
