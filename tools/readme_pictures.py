"""Regenerate the README's pictures: the demo's ``start-here.png`` and one of each view,
``docs/images/{start-here,grid,mean,overlay,pca,progression,figure}.png``.

    python tools/readme_pictures.py [--out docs/images]

EfficientNet-Lite0 (ImageNet-trained, ``layerscope[pretrained]``) on scikit-image's ``chelsea``,
layer ``blocks.3`` (the progression: blocks 0, 3 and 5). Offline, under a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

LAYERS = ["blocks.0", "blocks.3", "blocks.5"]
SHOWN = "01_blocks.3"  # the layer whose views the README shows


def main(argv=None) -> int:
    import layerscope as ls
    from layerscope.demo.run import run_demo
    from layerscope.zoo import write_sample_images

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "images"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        photo = write_sample_images(Path(work) / "in", count=0, photos=("chelsea",))[0]
        ls.show("builtin:efficientnet_lite0", photo, LAYERS, Path(work) / "views", max_channels=16,
                views="grid,mean,overlay,pca,progression,figure")
        folder = Path(work) / "views" / "chelsea"
        sources = {"grid": f"{SHOWN}.png", "progression": "progression.png",
                   **{view: f"{SHOWN}.{view}.png" for view in ("mean", "overlay", "pca", "figure")}}
        for view, name in sources.items():
            shutil.copyfile(folder / name, out / f"{view}.png")
            print(f"{out / (view + '.png')}")
        demo = run_demo(Path(work) / "demo", log=lambda line: None)
        shutil.copyfile(demo.start_here, out / "start-here.png")
        print(out / "start-here.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
