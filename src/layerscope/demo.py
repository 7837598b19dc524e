"""The offline demo: what a trained network sees, next to what an untrained one "sees".

>>> result = run_demo("layerscope-demo")        # doctest: +SKIP
>>> result.start_here                           # doctest: +SKIP
PosixPath('layerscope-demo/start-here.png')

Everything runs without network: the builtin ``digits`` model (the seed tutorial's
SimpleCNN, trained by this project on scikit-learn's real handwritten digits) and
its untrained copy on held-out digits, then a VGG16 on a public-domain photo from
scikit-image (random init unless torchvision's pretrained weights are already in
the local cache; nothing is downloaded).
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from PIL import Image, ImageDraw

from ._files import write_atomic
from .errors import InputError

__all__ = ["run_demo", "DemoResult", "cached_weights"]

DIGIT_LAYERS = ["conv1", "conv2"]
VGG_LAYERS = ["features.0", "features.5", "features.10", "features.17"]  # conv1_1 .. conv4_1, as in the seed


@dataclass
class DemoResult:
    out: Path
    start_here: Path
    seconds: float
    sections: dict[str, Path] = field(default_factory=dict)
    verdicts: dict[str, str] = field(default_factory=dict)


def cached_weights(weights_name: str = "VGG16_Weights.DEFAULT") -> Optional[str]:
    """The weights spec suffix if torchvision's file for it is already in the torch hub cache, else None."""
    import torch
    from torchvision.models import get_weight

    weights = get_weight(weights_name)
    filename = os.path.basename(weights.url)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    return weights_name.split(".")[-1] if cached.is_file() else None


def _labelled(path: Path, title: str, width: int) -> Image.Image:
    image = Image.open(path).convert("RGB")
    scale = max(1, width // max(image.width, 1))
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    canvas = Image.new("RGB", (image.width, image.height + 18), "white")
    canvas.paste(image, (0, 18))
    ImageDraw.Draw(canvas).text((4, 3), title, fill="black")
    return canvas


def _side_by_side(panels: list[Image.Image], path: Path) -> Path:
    height = max(p.height for p in panels)
    canvas = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), height), "white")
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, 0))
        x += panel.width + 8
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return write_atomic(buffer.getvalue(), path)


def _photo_available() -> bool:
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        return False
    return True


def _tendency(model, images) -> str:
    """The diagnostics' trained-vs-untrained reading of the model's maps."""
    from .diagnose import diagnose

    return diagnose(model, images, layers=DIGIT_LAYERS).tendency.message


def run_demo(
    out: str | os.PathLike = "layerscope-demo",
    *,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Write the demo's grids under ``out`` and return where they are; see the module docstring."""
    from .io import load_model
    from .show import show
    from .zoo import write_sample_images

    start = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a directory; choose a directory path for the demo's output")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out} already exists and is not empty; pass --overwrite or choose another --out")
    photos = ("chelsea",) if _photo_available() else ()
    inputs = write_sample_images(out / "inputs", count=6, photos=photos, overwrite=overwrite)
    digits = [p for p in inputs if p.name.startswith("digit")]
    log(f"wrote {len(inputs)} sample inputs to {out / 'inputs'}")

    result = DemoResult(out=out, start_here=out / "start-here.png", seconds=0.0)
    for key, spec in [("digits-trained", "builtin:digits"), ("digits-untrained", "builtin:digits:untrained")]:
        model = load_model(spec)
        shown = show(model, digits, DIGIT_LAYERS, out / key, overwrite=overwrite, scale=4)
        result.sections[key] = shown.out
        result.verdicts[key] = _tendency(model, digits)
        log(f"{spec:<26} conv1 + conv2 grids for {len(digits)} digits -> {shown.out}")

    if photos:
        suffix = cached_weights()
        spec = f"torchvision:vgg16:{suffix}" if suffix else "torchvision:vgg16"
        shown = show(spec, [p for p in inputs if p.suffix == ".jpg"], VGG_LAYERS, out / "vgg16-photo",
                     max_channels=16, overwrite=overwrite)
        result.sections["vgg16-photo"] = shown.out
        trained = "pretrained weights from the local cache" if suffix else "random init (no cached weights; nothing downloaded)"
        log(f"{spec:<26} {len(VGG_LAYERS)} layers of the photo ({trained}) -> {shown.out}")
    else:
        log("skipped the VGG16 photo: install 'layerscope[samples]' (scikit-image) for the public-domain photos")

    first = digits[0].stem
    _side_by_side(
        [
            _labelled(out / "digits-trained" / first / "00_conv1.png", "trained conv1: strokes and edges", 240),
            _labelled(out / "digits-untrained" / first / "00_conv1.png", "untrained conv1: random filters", 240),
        ],
        result.start_here,
    )
    result.seconds = time.perf_counter() - start
    for name, verdict in result.verdicts.items():
        log(f"{name}: {verdict}")
    log("(Feature maps are not explanations: they show what filters respond to, not why the model decides.)")
    log(f"done in {result.seconds:.1f} s. Open first: {result.start_here}")
    return result
