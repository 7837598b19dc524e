"""``attention``: the CLS token's attention in a layer's attention module (mean over heads) over the seen image;
``rollout``: the attention rollout (Abnar & Zuidema 2020) from the first attention layer up to that one.

Their ``maps`` are the map ``(1, h, w)`` over the patch grid of the attention module in or around the
layer (:func:`layerscope.explain.attention.layer_attention`), not the layer's maps; blended over the
seen image like ``overlay`` (upsampled bilinearly, so patches and pixels stay aligned), or drawn like
``mean`` without one.

>>> import numpy as np, torch
>>> AttentionView().draw(torch.rand(1, 4, 4), seen=np.zeros((32, 32, 3), np.uint8), min_size=32).shape
(32, 32, 3)
>>> VIEWS["rollout"].caption("blocks.3")
'blocks.3 | attention rollout from CLS'
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

import numpy as np

from ..options import RenderOptions
from .base import VIEWS, View, layer_maps_of
from .overlay import heat_over
from .pictures import MIN_SIZE

__all__ = ["AttentionView", "RolloutView"]


class AttentionView(View):
    name = "attention"
    needs_attention = True
    rollout: ClassVar[bool] = False  # its maps: the layer's own attention (True: the rollout up to the layer)
    description = "the CLS token's attention (mean over heads) over the image the model saw (ViT-style models)"

    def caption(self, title: str) -> str:
        return f"{title} | attention from CLS"

    def draw(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
             options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> np.ndarray:
        values = layer_maps_of(maps).mean(0)
        if seen is None:
            return VIEWS["mean"].draw(values[None], caption=caption, min_size=min_size)
        return heat_over(seen, values, caption, min_size)


class RolloutView(AttentionView):
    name = "rollout"
    rollout = True
    description = "the attention rollout from CLS up to the layer over the image the model saw (ViT-style models)"

    def caption(self, title: str) -> str:
        return f"{title} | attention rollout from CLS"
