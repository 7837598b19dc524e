"""The pictures of the three tutorials (``docs/tutorials/*.md``), made by the very calls the pages show.

    PYTHONPATH=src:. python -c "from pathlib import Path; import tools.pictures_tutorials as t; t.make(Path('docs/images'))"

``tools/pictures.py`` calls :func:`make` with the ``--out`` folder (group ``tutorials``). Each page's blocks run
in an empty folder on ``layerscope samples`` inputs; so does this module (a temporary folder; grids and views
name layers and inputs by their stems, never by path), then copies the files the pages point at to
``images/tutorials/<name>.png``: byte for byte what the pages' own blocks write. Offline; 75 to 95 s on 2 busy
CPU cores (the 3-epoch training is 8 to 10 s of it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LITE0 = "builtin:efficientnet_lite0"
CAT_LAYERS = ["bn1", "blocks.1.1.bn2", "blocks.3.2.bn2", "blocks.5.3.bn2"]
CAT_GRID = dict(max_channels=8, order="max", columns=4, min_tile=96)
DIGIT = "samples/digit_03_label3.png"  # relative to the folder the page (here: make) works in
DIGIT_GRID = dict(columns=8, scale=3)

# trained here (3 epochs): another CPU's float rounding may move a few pixels (see tools/pictures.py TOLERANT)
TOLERANT = {"tutorials/digits-filters-3-epochs.png": (0.01, 16), "tutorials/digits-conv1-3-epochs.png": (0.01, 16)}


def _filters(model, caption: str, path: Path) -> None:
    """conv1's 16 kernels on one signed scale, as digits-first-layer.md draws them."""
    import layerscope as ls

    filters = model.module.conv1.weight.detach()[:, 0]
    ls.render.render_grid(filters, normalize="signed-layer", scale=8, columns=8, caption=caption).save(path)


def _photo_network(w: Path) -> dict[str, str]:
    """photo-network.md: EfficientNet-Lite0 and its untrained copy on the cat, four depths; progression, overlay."""
    import layerscope as ls

    ls.show(LITE0, w / "samples/chelsea.jpg", layers=CAT_LAYERS, out=w / "cat-maps", **CAT_GRID)
    ls.show(f"{LITE0}:untrained", w / "samples/chelsea.jpg", layers=CAT_LAYERS, out=w / "cat-untrained", **CAT_GRID)
    ls.show(LITE0, w / "samples/chelsea.jpg", layers=CAT_LAYERS, out=w / "cat-views", views=["progression", "overlay"])
    return {
        "cat-bn1": "cat-maps/chelsea/00_bn1.png",
        "cat-bn1-untrained": "cat-untrained/chelsea/00_bn1.png",
        "cat-blocks3": "cat-maps/chelsea/02_blocks.3.2.bn2.png",
        "cat-blocks3-untrained": "cat-untrained/chelsea/02_blocks.3.2.bn2.png",
        "cat-blocks5": "cat-maps/chelsea/03_blocks.5.3.bn2.png",
        "cat-progression": "cat-views/chelsea/progression.png",
        "cat-overlay": "cat-views/chelsea/02_blocks.3.2.bn2.overlay.png",
    }


def _digits_first_layer(w: Path) -> dict[str, str]:
    """digits-first-layer.md: conv1 filters and maps, trained, untrained and after 3 epochs of training."""
    import layerscope as ls

    for spec, name in [("builtin:digits", "conv1-filters"), ("builtin:digits:untrained", "conv1-filters-untrained")]:
        _filters(ls.load_model(spec), f"{spec} conv1 filters", w / f"{name}.png")
    for spec, out in [("builtin:digits", "conv1-trained"), ("builtin:digits:untrained", "conv1-untrained")]:
        ls.show(spec, w / DIGIT, layers="conv1", out=w / out, **DIGIT_GRID)
    subprocess.run([sys.executable, "-m", "layerscope.zoo.train", "digits", "--epochs", "3", "--out", str(w / "my-digits"),
                    "--overwrite"], check=True, stdout=subprocess.DEVNULL)
    model = ls.load_model("builtin:digits", checkpoint=w / "my-digits/digits.safetensors")
    _filters(model, "3 epochs: conv1 filters", w / "conv1-filters-3-epochs.png")
    ls.show(model, w / DIGIT, layers="conv1", out=w / "conv1-3-epochs", **DIGIT_GRID)
    return {
        "digits-filters": "conv1-filters.png",
        "digits-filters-untrained": "conv1-filters-untrained.png",
        "digits-filters-3-epochs": "conv1-filters-3-epochs.png",
        "digits-conv1": "conv1-trained/digit_03_label3/00_conv1.png",
        "digits-conv1-untrained": "conv1-untrained/digit_03_label3/00_conv1.png",
        "digits-conv1-3-epochs": "conv1-3-epochs/digit_03_label3/00_conv1.png",
    }


def _good_and_bad_maps(w: Path) -> dict[str, str]:
    """good-and-bad-maps.md: planted dead and flat channels; the photo network's first layer on 0-255 pixels."""
    import torch

    import layerscope as ls

    model = ls.load_model("builtin:digits")
    with torch.no_grad():
        model.module.conv1.bias[:6] = -10.0
        model.module.conv1.weight[6:9] = 0.0
    ls.show(model, w / DIGIT, layers="conv1", out=w / "broken", normalize="global", value_range=(-1, 1), **DIGIT_GRID)
    lite0 = ls.load_model(LITE0)
    right = lite0.preprocess([w / "samples/chelsea.jpg", w / "samples/coffee.jpg"])
    ls.show(lite0, ((right + 1) / 2 * 255)[:1], layers=["bn1"], out=w / "raw-pixels", max_channels=8, columns=4)
    return {
        "bad-dead-uniform": "broken/digit_03_label3/00_conv1.png",
        "bad-raw-pixels": "raw-pixels/input-000/00_bn1.png",
    }


def make(images: Path) -> list[Path]:
    """Write the tutorials' pictures to ``images/tutorials/*.png``; returns their paths."""
    from layerscope.zoo import write_sample_images

    target = Path(images).resolve() / "tutorials"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="pictures-tutorials-") as work:
        w = Path(work)
        write_sample_images(w / "samples", photos=("astronaut", "chelsea", "coffee"))  # as `layerscope samples`
        for page in (_photo_network, _digits_first_layer, _good_and_bad_maps):
            written += [Path(shutil.copyfile(w / made, target / f"{name}.png")) for name, made in page(w).items()]
    return written
