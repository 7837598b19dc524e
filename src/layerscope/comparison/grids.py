"""Matched channels side by side on one scale: A's channels on the left, their matches on the right.

>>> import torch
>>> from layerscope.comparison.match import match_channels
>>> probe = torch.rand(3, 4, 4)
>>> match = match_channels(torch.eye(3).numpy(), "c", "c", probe_a=probe, probe_b=probe[[0, 1, 2]])
>>> view = side_by_side(match, scale=1)
>>> view.array.dtype.name, view.array.shape[2]
('uint8', 3)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from ..errors import InputError
from ..render import render_grid
from ..render.colormap import BACKGROUND
from ..render.viewables import ImageView

if TYPE_CHECKING:
    from .match import ChannelMatch

__all__ = ["side_by_side", "shared_range"]

GAP = 8  # background pixels between the two grids


def shared_range(*maps: torch.Tensor) -> tuple[float, float]:
    """(low, high) over the finite values of every map given; a flat or empty set gets a unit range."""
    values = torch.cat([m.detach().float().flatten().cpu() for m in maps])
    values = values[torch.isfinite(values)]
    if not values.numel():
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    return (low, high) if high > low else (low, low + 1.0)


def _pad(indices: np.ndarray, height: int) -> np.ndarray:
    if indices.shape[0] >= height:
        return indices
    return np.concatenate([indices, np.full((height - indices.shape[0], indices.shape[1]), BACKGROUND, np.uint8)])


def side_by_side(match: "ChannelMatch", max_channels: Optional[int] = 16, *, order: str = "index", scale: int = 2,
                 cmap: Optional[str] = None) -> ImageView:
    """The matched channels of ``match`` as two labelled grids on a shared scale (see :meth:`ChannelMatch.grids`)."""
    if match.probe_a is None or match.probe_b is None:
        raise InputError("This match has no maps to draw (probe_a / probe_b); it comes from match_channels alone. "
                         "Use the matches of layerscope.compare(...), which keep the first input's maps.")
    positions = match.order(order)
    if max_channels:
        positions = positions[: int(max_channels)]
    if not len(positions):
        raise InputError("No matched channels to draw.")
    a, b = match.a[positions].tolist(), match.b[positions].tolist()
    low, high = shared_range(match.probe_a, match.probe_b)
    columns = max(1, math.ceil(math.sqrt(len(a))))
    common = dict(normalize="global", value_range=(low, high), labels=True, scale=scale, columns=columns, cmap=cmap)
    label_a, label_b = match.labels
    left = render_grid(match.probe_a, channels=a, caption=f"{label_a}: {match.layer_a}", **common)
    right = render_grid(match.probe_b, channels=b, caption=f"{label_b}: {match.layer_b}", colorbar=True, **common)
    height = max(left.indices.shape[0], right.indices.shape[0])
    gap = np.full((height, GAP), BACKGROUND, np.uint8)
    indices = np.concatenate([_pad(left.indices, height), gap, _pad(right.indices, height)], axis=1)
    title = (f"{match.layer_a} ({label_a}) vs {match.layer_b} ({label_b}): {len(a)} matched channels, one scale "
             f"[{low:.3g}, {high:.3g}]")
    return ImageView(left.palette[indices], title=title)
