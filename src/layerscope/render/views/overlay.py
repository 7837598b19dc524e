"""``overlay``: the mean map blended over the image the model saw (after its resize and crop).

The map is upsampled bilinearly onto the image, so map and image stay aligned.

>>> import numpy as np, torch
>>> seen = np.zeros((32, 32, 3), np.uint8)
>>> OverlayView().draw(torch.rand(3, 4, 4), seen=seen, min_size=64).shape
(64, 64, 3)
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ...errors import InputError
from ..options import RenderOptions
from ..overlays import overlay
from ..summary import summarize
from .base import View, layer_maps_of
from .pictures import MIN_SIZE, captioned, enlarge

__all__ = ["OverlayView", "IMAGE_WEIGHT"]

IMAGE_WEIGHT = 0.45  # how much of the image shows through the coloured map


def heat_over(seen: np.ndarray, values: Any, caption: str, min_size: int) -> np.ndarray:
    """A (H, W) map blended over ``seen``, enlarged to ``min_size``, under ``caption``."""
    picture = enlarge(overlay(seen, values, image_weight=IMAGE_WEIGHT), min_size)
    return captioned(picture, caption) if caption else picture


class OverlayView(View):
    name = "overlay"
    needs_seen = True
    description = "the mean map over the image the model saw"

    def draw(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
             options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> np.ndarray:
        if seen is None:
            raise InputError("The overlay view needs the image the model saw; tensors given without images have none.")
        return heat_over(seen, summarize(layer_maps_of(maps), "mean"), caption, min_size)
