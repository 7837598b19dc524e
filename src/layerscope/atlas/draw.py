"""The atlas as a picture: a pure renderer over arrays (the cells' thumbnails, their label colours), no axes.

>>> import numpy as np
>>> fit_picture(np.zeros((64, 32, 3), np.uint8), 16).shape
(16, 8, 3)
>>> label_colours(["cat", "dog"])["dog"]
(255, 127, 14)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:  # layout.py draws with this module
    from .layout import Atlas

__all__ = ["draw_atlas", "fit_picture", "label_colours", "LABEL_RGB", "NO_LABEL_RGB"]

# Categorical colours (matplotlib's tab10, then tab10 darkened): one per label, in sorted label order.
_TAB10 = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
             (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
LABEL_RGB: tuple[tuple[int, int, int], ...] = _TAB10 + tuple((r * 6 // 10, g * 6 // 10, b * 6 // 10) for r, g, b in _TAB10)
NO_LABEL_RGB = (90, 90, 90)


def label_colours(names: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """A colour per label name (cycling after 20)."""
    return {name: LABEL_RGB[i % len(LABEL_RGB)] for i, name in enumerate(names)}


def fit_picture(picture: Any, size: int) -> np.ndarray:
    """An (h, w, 3) uint8 RGB array whose longer side is ``size``, from an RGB/grey array (uint8, or float in
    [0, 1]), an (3, H, W) tensor in [0, 1] or a PIL image."""
    from PIL import Image

    if hasattr(picture, "detach"):
        picture = picture.detach().cpu().numpy()
        if picture.ndim == 3 and picture.shape[0] in (1, 3):
            picture = picture.transpose(1, 2, 0)
    if isinstance(picture, np.ndarray):
        array = picture
        if array.dtype != np.uint8:
            array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
            raise InputError(f"An atlas picture must be (H, W), (H, W, 3) or (3, H, W); got {picture.shape}.")
        picture = Image.fromarray(array)
    if not isinstance(picture, Image.Image):
        raise InputError(f"An atlas picture must be an array, a tensor or a PIL image; got {type(picture).__name__}.")
    image = picture.convert("RGB")
    scale = size / max(image.size)
    width, height = max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.BOX if scale <= 1 else Image.Resampling.BILINEAR
    return np.asarray(image.resize((width, height), resample))


def mosaic(pictures: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Up to 4 pictures in a 2x2 square of ``size`` pixels (one picture fills it), centred, on black."""
    out = np.zeros((size, size, 3), np.uint8)
    if not pictures:
        return out
    side = size if len(pictures) == 1 else size // 2
    for k, picture in enumerate(pictures[:4]):
        small = fit_picture(picture, side)
        top, left = (k // 2) * side + (side - small.shape[0]) // 2, (k % 2) * side + (side - small.shape[1]) // 2
        out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return out


def draw_atlas(atlas: "Atlas", *, cell: int = 64, border: int = 3) -> np.ndarray:
    """The atlas as an (rows * cell, cols * cell, 3) uint8 picture: each occupied cell its top members'
    thumbnails (a 2x2 mosaic) framed in its label's colour; without thumbnails, the cell is filled with its label's
    colour, darker where fewer points fall. Empty cells stay white."""
    if cell < 2 * border + 2:
        raise InputError(f"draw_atlas(cell={cell}): a cell needs more than {2 * border + 1} pixels.")
    rows, cols = atlas.grid
    out = np.full((rows * cell, cols * cell, 3), 255, np.uint8)
    colours = label_colours(atlas.label_names)
    most = max((len(c.members) for c in atlas.cells), default=1)
    inner = cell - 2 * border
    for c in atlas.cells:
        rgb = np.array(colours.get(c.label, NO_LABEL_RGB) if c.label is not None else NO_LABEL_RGB, np.uint8)
        y, x = c.row * cell, c.col * cell
        out[y:y + cell, x:x + cell] = rgb
        pictures = [atlas.thumbnails[i] for i in c.top.tolist() if i in atlas.thumbnails]
        if pictures:
            out[y + border:y + border + inner, x + border:x + border + inner] = mosaic(pictures, inner)
        else:
            shade = 0.35 + 0.65 * np.log1p(len(c.members)) / np.log1p(most)
            out[y + border:y + cell - border, x + border:x + cell - border] = (255 - (255 - rgb) * shade).astype(np.uint8)
    return out
