"""``progression``: one strip per input, the mean map of every layer from shallow to deep.

>>> import torch
>>> strip = ProgressionView().draw({"a": torch.rand(4, 8, 8), "b": torch.rand(8, 4, 4)}, caption="model")
>>> strip.dtype.name, strip.shape[0] > 96
('uint8', True)
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
import torch

from ...errors import InputError
from ..options import RenderOptions
from ..summary import progression_strip
from .base import View
from .pictures import MIN_SIZE, captioned

__all__ = ["ProgressionView"]

HEIGHT = 96  # pixels of each layer's panel


class ProgressionView(View):
    name = "progression"
    per = "input"
    description = "one strip per input: the mean map of every layer, shallow to deep"

    def caption(self, title: str) -> str:
        return f"{title}: mean map of each layer, shallow to deep"

    def draw(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
             options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> np.ndarray:
        if not isinstance(maps, Mapping) or not all(isinstance(t, torch.Tensor) and t.dim() == 3 for t in maps.values()):
            raise InputError("The progression view draws a mapping of layer names to maps (C, H, W), shallow to deep.")
        batch = {name: tensor[None] for name, tensor in maps.items()}
        strip = progression_strip(batch, layouts={name: "NCHW" for name in batch}, height=HEIGHT)
        return captioned(strip, caption) if caption else strip
