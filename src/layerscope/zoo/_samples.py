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

__all__ = ["PHOTOS", "PHOTO_SET", "sample_inputs", "sample_patches", "sample_photo_set", "sample_photo", "write_sample_images"]

# scikit-image's bundled photos that are public domain / CC0 (see skimage.data docs).
PHOTOS = ("astronaut", "chelsea", "coffee")
# ... and, with more public-domain / CC0 photos and textures, a small offline photo set (sample_photo_set, sample_patches).
PHOTO_SET = (*PHOTOS, "rocket", "hubble_deep_field", "brick", "grass", "gravel")


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


def sample_patches(side: int = 112, photos: Sequence[str] = PHOTO_SET) -> tuple[np.ndarray, list[str]]:
    """A small offline patch set: every photo scaled so that its shorter side is ``3 * side``, cut into
    ``side x side`` windows that do not overlap (so no place is in two patches). Returns the uint8 patches ``(N, side, side, 3)`` and where
    each comes from (``"chelsea@112,224"``: photo, top, left in the scaled photo). Needs ``layerscope[samples]``.

    >>> patches, sources = sample_patches(56, photos=("chelsea",))
    >>> patches.shape, sources[:2]
    ((12, 56, 56, 3), ['chelsea@0,0', 'chelsea@0,56'])
    """
    if isinstance(side, bool) or not isinstance(side, int) or side < 8:
        raise InputError(f"side={side!r}: choose an integer of at least 8 pixels")
    patches, sources = [], []
    step = side
    for name, pixels in sample_photo_set(3 * side, photos, multiple=1).items():
        for top in range(0, pixels.shape[0] - side + 1, step):
            for left in range(0, pixels.shape[1] - side + 1, step):
                patches.append(pixels[top : top + side, left : left + side])
                sources.append(f"{name}@{top},{left}")
    return np.stack(patches), sources


def sample_photo_set(short: int = 320, photos: Sequence[str] = PHOTO_SET, *, multiple: int = 32
                     ) -> dict[str, np.ndarray]:
    """``photos`` of :data:`PHOTO_SET` as uint8 RGB arrays ``(H, W, 3)``, each scaled (bicubic) so that its shorter
    side is ``short`` and both sides are multiples of ``multiple`` (a CNN's total stride). Needs ``layerscope[samples]``.

    >>> {name: pixels.shape for name, pixels in sample_photo_set(64, ("chelsea", "brick")).items()}
    {'chelsea': (64, 96, 3), 'brick': (64, 64, 3)}
    """
    data = require("skimage.data", "samples", "sample_photo_set()")
    unknown = [name for name in photos if name not in PHOTO_SET]
    if unknown:
        raise InputError(f"unknown photo {unknown[0]!r}.{did_you_mean(unknown[0], PHOTO_SET, n=1)} "
                         f"Choose from: {', '.join(PHOTO_SET)}.")
    found = {}
    for name in photos:
        image = Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB")
        scale = short / min(image.size)
        size = [max(multiple, round(side * scale) // multiple * multiple) for side in image.size]
        found[name] = np.asarray(image.resize(tuple(size), Image.Resampling.BICUBIC))
    return found


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
