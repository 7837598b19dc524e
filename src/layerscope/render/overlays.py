"""Blend one map (a channel or a layer summary) over the input image, upsampled to the image's size.

>>> import numpy as np, torch
>>> image = np.zeros((4, 4, 3), np.uint8)
>>> heat = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
>>> int(overlay(image, heat, image_weight=1.0).max())  # all image
0
>>> overlay(image, heat, image_weight=0.0, cmap="gray")[0, :, 0].tolist()  # all heatmap, bilinear
[0, 64, 191, 255]
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..errors import InputError
from ._viewkit import as_tensor, colored_map

__all__ = ["overlay", "as_rgb_array"]


def as_rgb_array(image: Any) -> np.ndarray:
    """An (H, W, 3) uint8 copy of a PIL image (any mode) or an (H, W[, 3 | 4]) uint8 / [0, 1] float array."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return np.array(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a PIL image or an (H, W, 3) numpy array, got {type(image).__name__}.")
    array = image
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise InputError(f"image array must be (H, W), (H, W, 3) or (H, W, 4), got shape {image.shape}.")
    array = array[:, :, :3]
    if array.dtype == np.uint8:
        return array.copy()
    if np.issubdtype(array.dtype, np.floating) and array.size and 0.0 <= array.min() and array.max() <= 1.0:
        return np.round(array * 255.0).astype(np.uint8)
    raise InputError(
        f"image array must be uint8 (0..255) or float in [0, 1], got dtype {image.dtype}"
        f"{' with values outside [0, 1]' if np.issubdtype(array.dtype, np.floating) else ''}; "
        f"convert it, e.g. np.clip(image, 0, 255).astype(np.uint8)."
    )


def overlay(
    image: Any,
    heat: Any,
    *,
    image_weight: float = 0.5,
    cmap: Optional[str] = "jet",
    value_range: Optional[tuple[float, float]] = None,
) -> np.ndarray:
    """``(1 - image_weight) * colormap(heat) + image_weight * image`` as an (H, W, 3) uint8 array.

    ``heat`` is one (h, w) map (a tensor or array, e.g. ``maps[c]`` or ``summarize(maps)``);
    it is min-max scaled (or clipped to ``value_range``), upsampled bilinearly
    (``align_corners=False``) to the image's size and coloured with ``cmap`` (NaN in magenta). The same blend
    as pytorch-grad-cam's ``show_cam_on_image``, in RGB and without OpenCV:
    ``image_weight=0`` gives exactly the heatmap, ``1`` exactly the image. Inputs are not modified.
    """
    rgb = as_rgb_array(image)
    weight = float(image_weight)
    if not 0.0 <= weight <= 1.0:
        raise InputError(f"image_weight must be in [0, 1] (0 = heatmap only, 1 = image only), got {image_weight!r}.")
    values = as_tensor(heat, "heat")
    if values.dim() != 2:
        raise InputError(
            f"heat must be one (H, W) map, got shape {tuple(values.shape)}; pass a channel maps[c] "
            f"or a summary such as layerscope.render.summarize(maps)."
        )
    if values.numel() == 0 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InputError(f"Cannot overlay an empty map {tuple(values.shape)} on an image of shape {rgb.shape}.")
    normalize = "channel" if value_range is None else "global"
    size = (rgb.shape[0], rgb.shape[1])
    colored = colored_map(values, size, resize="bilinear", normalize=normalize, value_range=value_range, cmap=cmap)
    colored = colored.astype(np.float32)
    blended = (1.0 - weight) * colored + weight * rgb.astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
