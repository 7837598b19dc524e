"""``mean``: the layer's mean over channels, min-max coloured, enlarged nearest to :data:`MIN_SIZE`.

>>> import torch
>>> MeanView().draw(torch.rand(3, 8, 8), min_size=16).shape
(16, 16, 3)
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .._viewkit import colored_map
from ..options import RenderOptions
from ..summary import summarize
from .base import View, layer_maps_of
from .pictures import MIN_SIZE, captioned, enlarged_size

__all__ = ["MeanView"]


class MeanView(View):
    name = "mean"
    description = "the mean map over channels"

    def draw(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
             options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> np.ndarray:
        mean = summarize(layer_maps_of(maps), "mean")
        picture = colored_map(mean, enlarged_size(mean, min_size), resize="nearest")
        return captioned(picture, caption) if caption else picture
