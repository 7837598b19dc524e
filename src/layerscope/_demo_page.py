"""``start-here.png`` of the demo: the inputs, trained vs untrained grids side by side, the pretrained progression.

One font throughout (the bitmap font of :mod:`layerscope.render.font`), white background.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from .render.png import encode_png
from .render.views import LAYER_VIEWS, captioned

__all__ = ["start_here"]

GAP = 12


def _image(path: Path, height: Optional[int] = None) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    if height is not None and image.height != height:
        width = max(1, round(image.width * height / image.height))
        image = image.resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(image)


def _row(parts: list[np.ndarray]) -> np.ndarray:
    height = max(p.shape[0] for p in parts)
    width = sum(p.shape[1] for p in parts) + GAP * (len(parts) - 1)
    canvas = np.full((height, width, 3), 255, np.uint8)
    left = 0
    for part in parts:
        canvas[: part.shape[0], left : left + part.shape[1]] = part
        left += part.shape[1] + GAP
    return canvas


def _column(parts: list[np.ndarray]) -> np.ndarray:
    width = max(p.shape[1] for p in parts)
    height = sum(p.shape[0] for p in parts) + GAP * (len(parts) - 1)
    canvas = np.full((height, width, 3), 255, np.uint8)
    top = 0
    for part in parts:
        canvas[top : top + part.shape[0], : part.shape[1]] = part
        top += part.shape[0] + GAP
    return canvas


def _grids(out: Path, key: str, stem: str) -> list[np.ndarray]:
    views = tuple(f".{view}.png" for view in LAYER_VIEWS)
    return [_image(path) for path in sorted((out / key / stem).glob("[0-9]*_*.png")) if not path.name.endswith(views)]


def start_here(out: Path, digit: Path, photo, predictions: Optional[dict] = None) -> bytes:
    """The PNG bytes of the page, from the files the demo wrote under ``out``.

    ``predictions`` maps a demo section to the top classes of its first input; the pretrained photo
    network's are written under the photo.
    """
    predictions = predictions or {}
    inputs = [captioned(_image(digit, 112), "input: a held-out digit (28x28)")]
    if photo:
        said = predictions.get("photo-pretrained", "")
        inputs.append(captioned(_image(photo, 160), "input: a public-domain photo"
                                + (f"; pretrained says {said}" if said else "")))
    rows = [_row(inputs)]
    pairs = [("digits-trained", "digits-untrained", digit.stem, "digits conv1, conv2")]
    if photo:
        pairs.append(("photo-pretrained", "photo-untrained", Path(photo).stem, "EfficientNet-Lite0 first, middle, deep block"))
    for trained, untrained, stem, what in pairs:
        left, right = _grids(out, trained, stem), _grids(out, untrained, stem)
        if not left:
            continue
        rows.append(captioned(_row([_column(left), _column(right)]),
                              f"{what}: trained (left) vs untrained (right): learned strokes and textures vs random filters"))
    if photo:
        strip = out / "photo-pretrained" / Path(photo).stem / "progression.png"
        if strip.is_file():
            rows.append(_image(strip))
    return encode_png(np.ascontiguousarray(_column(rows)))
