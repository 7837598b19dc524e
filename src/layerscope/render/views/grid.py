"""``grid``: the channel grid of a layer for one input (:func:`~layerscope.render.render_grids`), the main view.

>>> import torch
>>> GridView().draw(torch.rand(4, 5, 5), options=RenderOptions(columns=2, padding=0)).shape
(10, 10, 3)
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from ..grid import ChannelGrid, render_grids
from ..options import RenderOptions
from .base import View, layer_maps_of
from .pictures import MIN_SIZE

__all__ = ["GridView"]


class GridView(View):
    """Channel grids; ``show`` writes them as ``<NN>_<layer>.png`` with their metadata in the index."""

    name = "grid"
    description = "channel grids (the first max_channels channels, or all with --atlas)"

    def caption(self, title: str) -> str:
        return title

    def file_name(self, stem: str) -> str:
        return f"{stem}.png"

    def grids(self, maps: torch.Tensor, options: RenderOptions, *, layer: Optional[str] = None,
              title: Optional[str] = None) -> list[ChannelGrid]:
        """One :class:`~layerscope.render.ChannelGrid` per input of ``maps`` (N, C, H, W), in one batched pass."""
        return render_grids(maps, options, layer=layer, title=title)

    def draw(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
             options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> np.ndarray:
        grid = self.grids(layer_maps_of(maps)[None], options or RenderOptions(), title=caption or None)[0]
        return grid.rgb

    def png(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
            options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> bytes:
        return self.grids(layer_maps_of(maps)[None], options or RenderOptions(), title=caption or None)[0].png_bytes()
