"""``importance``: the Grad-CAM style heat map of a layer's most important channels over the image the model saw.

Its ``maps`` are the heat map ``(1, H, W)`` (:mod:`layerscope.explain.ranking`), not the layer's
maps; without a seen image it is drawn like ``mean``. The caller's title says what class it is for.

>>> import numpy as np, torch
>>> ImportanceView().draw(torch.rand(1, 4, 4), seen=np.zeros((32, 32, 3), np.uint8), min_size=32).shape
(32, 32, 3)
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..options import RenderOptions
from ..summary import summarize
from .base import VIEWS, View, layer_maps_of
from .overlay import heat_over
from .pictures import MIN_SIZE

__all__ = ["ImportanceView"]


class ImportanceView(View):
    name = "importance"
    needs_importance = True
    description = "the importance heat map of the top channels over the image the model saw"

    def caption(self, title: str) -> str:
        return title  # the caller names the class: "<layer> | importance for class 3 (cat)"

    def draw(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
             options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> np.ndarray:
        if seen is None:
            return VIEWS["mean"].draw(maps, caption=caption, min_size=min_size)
        return heat_over(seen, summarize(layer_maps_of(maps), "mean"), caption, min_size)
