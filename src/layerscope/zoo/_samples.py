"""Sample inputs: held-out digits shipped with the package, and public-domain photos from scikit-image.

>>> images, labels = sample_inputs("digits")
>>> images.shape, images.dtype.name, labels[:10].tolist()
((30, 28, 28), 'uint8', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
"""

from __future__ import annotations


import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..errors import InputError, did_you_mean, require
from ..core.files import write_atomic
from ._files import refuse_existing
from ._registry import DATA_DIR, resolve

__all__ = ["PHOTOS", "sample_inputs", "sample_photo", "write_sample_images"]

# scikit-image's bundled photos that are public domain / CC0 (see skimage.data docs).
PHOTOS = ("astronaut", "chelsea", "coffee")


def _load(name: str) -> dict[str, np.ndarray]:
    with np.load(DATA_DIR / "samples" / f"{name}.npz") as data:
        return {key: data[key] for key in data.files}


def sample_inputs(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, H, W) exactly as the model takes them before normalization, int64 labels).

    For ``digits``: 30 held-out images (3 per class, classes cycling 0..9), never
    seen in training; ``load_digits()`` indices are in the npz under ``indices``.
    """
    data = _load(resolve(name))
    return data["images"], data["labels"]


def sample_photo(name: str = "chelsea") -> Image.Image:
    """An RGB photo from scikit-image (``pip install 'layerscope[samples]'``); nothing is downloaded.

    >>> sample_photo("coffee").size
    (600, 400)
    """
    if name not in PHOTOS:
        raise InputError(f"unknown sample photo {name!r}.{did_you_mean(name, PHOTOS, n=1)} Choose one of: {', '.join(PHOTOS)}.")
    data = require("skimage.data", "samples", "sample_photo()")
    return Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB")


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def write_sample_images(
    directory: str | os.PathLike,
    *,
    count: int = 10,
    photos: Sequence[str] = ("chelsea",),
    overwrite: bool = False,
) -> list[Path]:
    """Write ``count`` held-out digits as 28x28 grayscale PNGs (the model's exact input) and ``photos`` as JPEG.

    Files are ``digit_00_label0.png``, ... and ``chelsea.jpg``; an existing file with other
    content is never replaced unless ``overwrite=True`` (one holding exactly these bytes, from an
    earlier call, is left as it is, so a second call succeeds). Photos need ``layerscope[samples]``;
    pass ``photos=()`` to write digits only.

    >>> [p.name for p in write_sample_images(tmp, count=2, photos=())]  # doctest: +SKIP
    ['digit_00_label0.png', 'digit_01_label1.png']
    """
    images, labels = sample_inputs("digits")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= len(images):
        raise InputError(f"count={count!r} is out of range; choose an integer from 0 to {len(images)}")
    files = {f"digit_{i:02d}_label{labels[i]}.png": _encode(Image.fromarray(images[i]), "PNG")
             for i in range(count)}
    for photo in [photos] if isinstance(photos, str) else photos:
        files[f"{photo}.jpg"] = _encode(sample_photo(photo), "JPEG")
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} exists and is not a directory; pass a directory path")
    paths = [root / filename for filename in files]
    same = {path for path, data in zip(paths, files.values()) if path.is_file() and path.read_bytes() == data}
    refuse_existing([path for path in paths if path not in same], overwrite, "overwrite=True (CLI: --overwrite)")
    return [path if path in same else write_atomic(data, path) for path, data in zip(paths, files.values())]
