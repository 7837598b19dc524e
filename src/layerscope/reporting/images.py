"""Pictures for the page: PNG data URIs, and the input as the model saw it (preprocessing undone).

>>> import numpy as np, torch
>>> data_uri(np.zeros((2, 2, 3), np.uint8))[:28]
'data:image/png;base64,iVBORw'
>>> photo = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
>>> photo_uri(photo)[:23], photo_uri(np.zeros((96, 96, 3), np.uint8))[:22]  # noise: JPEG; flat: PNG is smaller
('data:image/jpeg;base64,', 'data:image/png;base64,')
>>> from layerscope.io import Preprocessing
>>> seen = seen_image(torch.zeros(3, 2, 2), Preprocessing(None, None, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 3))
>>> seen.shape, int(seen[0, 0, 0])  # 0 * 0.25 + 0.5 -> 128
((2, 2, 3), 128)
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ..errors import InputError
from ..io.preprocess import Preprocessing
from ..render.png import encode_png

__all__ = ["data_uri", "photo_uri", "png_bytes", "seen_image", "thumbnail"]

PHOTO_QUALITY = 90  # JPEG quality of a photo shown as the input (the maps are never lossy)

_PNG = b"\x89PNG\r\n\x1a\n"


def png_bytes(image: Any) -> bytes:
    """PNG bytes of PNG bytes (as is), an (H, W[, 3]) uint8 array, a PIL image, a ChannelGrid or a PNG path."""
    if isinstance(image, (bytes, bytearray)):
        if not bytes(image[:8]) == _PNG:
            raise InputError("Image bytes for the report must be a PNG file's bytes (they start with the PNG signature).")
        return bytes(image)
    if hasattr(image, "png_bytes"):
        return image.png_bytes()
    if isinstance(image, np.ndarray):
        return encode_png(image)
    from PIL import Image

    if isinstance(image, (str, Path)):
        with Image.open(image) as opened:
            image = opened.convert("RGB")
    if isinstance(image, Image.Image):
        return encode_png(np.asarray(image.convert("RGB")))
    raise InputError(f"Cannot show a {type(image).__name__} in the report; give PNG bytes, an array or a PIL image.")


def data_uri(image: Any) -> str:
    """``data:image/png;base64,...`` of anything :func:`png_bytes` takes."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def photo_uri(image: np.ndarray) -> str:
    """The data URI of an (H, W[, 3]) uint8 photo: PNG, or JPEG (quality 90) where that is smaller. For the pictures
    of the inputs, which are looked at (and drawn under an overlay), never read back as values."""
    png = png_bytes(image)
    if image.ndim != 3 or min(image.shape[:2]) < 32:
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=PHOTO_QUALITY)
    kind, data = ("jpeg", buffer.getvalue()) if buffer.tell() < len(png) else ("png", png)
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def seen_image(tensor: torch.Tensor, preprocessing: Any) -> Optional[np.ndarray]:
    """The (H, W, 3) uint8 picture a (C, H, W) model input shows: :meth:`Preprocessing.pixels
    <layerscope.io.preprocess.Preprocessing.pixels>` (the one inverse of the preprocessing), or the values
    clipped to 0..1 when the preprocessing is unknown or made for another number of channels.

    None when the input is not an image (not 1 or 3 channels, or not floating point).
    """
    if tensor.dim() != 3 or tensor.shape[0] not in (1, 3) or not tensor.is_floating_point():
        return None
    count = int(tensor.shape[0])
    if not isinstance(preprocessing, Preprocessing) or preprocessing.channels != count:
        preprocessing = Preprocessing(resize=None, crop=None, mean=(0.0,) * count, std=(1.0,) * count, channels=count)
    return preprocessing.pixels(tensor)


def thumbnail(image: Any, size: tuple[int, int]) -> np.ndarray:
    """An RGB array that fits ``size`` (width, height), from an array, a PIL image, a ChannelGrid or a PNG path."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    elif hasattr(image, "to_pil"):
        image = image.to_pil()
    elif isinstance(image, (bytes, bytearray)):
        image = Image.open(io.BytesIO(image))
    with image if isinstance(image, Image.Image) else Image.open(image) as opened:
        small = opened.convert("RGB")
    small.thumbnail(size, Image.Resampling.BOX)
    return np.asarray(small)
