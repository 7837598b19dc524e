"""``pca``: the first three principal components of the channels as RGB, enlarged nearest to :data:`MIN_SIZE`.

>>> import torch
>>> PCAView().draw(torch.rand(6, 8, 8), min_size=16).shape
(16, 16, 3)
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from .._viewkit import resize_map
from ..options import RenderOptions
from ..pca import pca_rgb
from .base import View, layer_maps_of
from .pictures import MIN_SIZE, captioned, enlarged_size

__all__ = ["PCAView"]


class PCAView(View):
    name = "pca"
    description = "the first three principal components of the channels as RGB"

    def draw(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
             options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> np.ndarray:
        rgb = torch.from_numpy(pca_rgb(layer_maps_of(maps))).permute(2, 0, 1).float()
        size = enlarged_size(rgb, min_size)
        picture = torch.stack([resize_map(c, size, "nearest") for c in rgb]).permute(1, 2, 0).round().byte().numpy()
        return captioned(picture, caption) if caption else picture
