"""``figure``: the tutorial-style matplotlib figure of the first 16 channels, titles and colorbars (for papers).

Needs matplotlib (``layerscope[figures]``); :meth:`FigureView.png` gives matplotlib's PNG bytes as they are.
"""

from __future__ import annotations

import io
from typing import Any, Optional

import numpy as np
import torch

from ..figure import channel_figure
from ..options import RenderOptions
from .base import View, layer_maps_of
from .pictures import MIN_SIZE

__all__ = ["FigureView", "figure_png"]

FIGURE_CHANNELS = 16


def figure_png(maps: torch.Tensor, *, title: str, max_channels: int = FIGURE_CHANNELS) -> bytes:
    """The tutorial-style matplotlib figure of the first ``max_channels`` channels, as PNG bytes."""
    fig = channel_figure(maps, title=title, max_channels=max_channels, panel_inches=1.3, dpi=100)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


class FigureView(View):
    name = "figure"
    description = "a matplotlib figure of the first 16 channels with titles and colorbars"

    def caption(self, title: str) -> str:
        return title  # the figure adds the maps' shape itself

    def png(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
            options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> bytes:
        maps = layer_maps_of(maps)
        return figure_png(maps, title=f"{caption}  ({'x'.join(str(d) for d in maps.shape)})")

    def draw(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
             options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> np.ndarray:
        from PIL import Image

        with Image.open(io.BytesIO(self.png(maps, caption=caption))) as image:
            return np.asarray(image.convert("RGB"))
