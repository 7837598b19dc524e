"""``start-here.png`` of the demo: the inputs, trained vs untrained grids side by side, the pretrained progression.

One font throughout (the bitmap font of :mod:`layerscope.render.font`), white background.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from ..render.png import encode_png
from ..render.views import LAYER_VIEWS, captioned

__all__ = ["start_here"]

GAP = 12


def _image(path: Path, height: Optional[int] = None) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    if height is not None and image.height != height:
        width = max(1, round(image.width * height / image.height))
        image = image.resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(image)


def _stack(parts: list[np.ndarray], axis: int) -> np.ndarray:
    """``parts`` side by side (``axis=1``) or one under another (``axis=0``), GAP apart, on white."""
    across = 1 - axis
    shape = [0, 0, 3]
    shape[axis] = sum(p.shape[axis] for p in parts) + GAP * (len(parts) - 1)
    shape[across] = max(p.shape[across] for p in parts)
    canvas = np.full(shape, 255, np.uint8)
    start = 0
    for part in parts:
        window = [slice(0, part.shape[0]), slice(0, part.shape[1])]
        window[axis] = slice(start, start + part.shape[axis])
        canvas[tuple(window)] = part
        start += part.shape[axis] + GAP
    return canvas


def _row(parts: list[np.ndarray]) -> np.ndarray:
    return _stack(parts, 1)


def _column(parts: list[np.ndarray]) -> np.ndarray:
    return _stack(parts, 0)


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
