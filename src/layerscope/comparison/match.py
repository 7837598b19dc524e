"""Which channel became which: correlate the maps of two layers' channels, then a Hungarian assignment.

>>> import torch
>>> maps = torch.randn(6, 4, 5, 5, generator=torch.Generator().manual_seed(0))
>>> corr = ChannelCorrelation(4, 4).update(maps, maps[:, [2, 0, 3, 1]])
>>> match = match_channels(corr.result(), "conv", "conv")
>>> match.b.tolist()  # channel 0 of A is channel 1 of B, 1 -> 3, 2 -> 0, 3 -> 2
[1, 3, 0, 2]

Each position of each input is one sample of the two layers' channel vectors; the C_a x C_b
Pearson correlations come from a streamed covariance of both layers' channels together
(:class:`layerscope.stats.Covariance`: centred, in float64, exact under any split into batches,
so an offset shared by every input leaves them alone). The assignment maximises the summed
correlation with :func:`scipy.optimize.linear_sum_assignment`; with different channel counts it
is rectangular (every channel of the smaller side is matched).
A constant channel has no correlation (NaN), which counts as 0 for the assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..core.jsonio import jsonable
from ..errors import InputError
from ..stats import Covariance
from .grids import side_by_side

__all__ = ["ChannelCorrelation", "ChannelMatch", "match_channels", "common_size"]

_VALUES_PER_PART = 1 << 24  # float64 values per slice of a batch handed to the covariance (128 MiB)


def common_size(a: torch.Tensor, b: torch.Tensor) -> tuple[int, int]:
    """The map size both (N, C, H, W) batches are pooled to: the smaller height and width."""
    return min(a.shape[-2], b.shape[-2]), min(a.shape[-1], b.shape[-1])


def _pooled(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    maps = maps.to(torch.float64)
    return maps if tuple(maps.shape[-2:]) == size else F.adaptive_avg_pool2d(maps, size)


class ChannelCorrelation:
    """Streams the correlation of every channel of layer A with every channel of layer B.

    ``update(maps_a, maps_b)`` takes the two layers' maps ``(N, C, H, W)`` of the same N inputs;
    maps of different sizes are average-pooled to the smaller one (:func:`common_size`).
    """

    def __init__(self, channels_a: int, channels_b: int) -> None:
        self.channels_a, self.channels_b = int(channels_a), int(channels_b)
        self.covariance = Covariance(self.channels_a + self.channels_b)
        self.pooled = False

    def update(self, maps_a: torch.Tensor, maps_b: torch.Tensor) -> "ChannelCorrelation":
        if maps_a.dim() != 4 or maps_b.dim() != 4 or maps_a.shape[0] != maps_b.shape[0] \
                or (maps_a.shape[1], maps_b.shape[1]) != (self.channels_a, self.channels_b):
            raise InputError(
                f"ChannelCorrelation({self.channels_a}, {self.channels_b}) got maps {tuple(maps_a.shape)} and "
                f"{tuple(maps_b.shape)}; it needs (N, {self.channels_a}, H, W) and (N, {self.channels_b}, H', W')."
            )
        size = common_size(maps_a, maps_b)
        self.pooled = self.pooled or tuple(maps_a.shape[-2:]) != tuple(maps_b.shape[-2:])
        maps_b = maps_b.to(maps_a.device)
        step = max(1, _VALUES_PER_PART // ((self.channels_a + self.channels_b) * size[0] * size[1]))
        for start in range(0, maps_a.shape[0], step):  # float64 before pooling: an offset of 1e4 keeps its digits
            part = slice(start, start + step)
            self.covariance.update(torch.cat([_pooled(maps_a[part], size), _pooled(maps_b[part], size)], dim=1))
        return self

    def result(self) -> np.ndarray:
        """The (C_a, C_b) Pearson correlations (NaN where a channel is constant)."""
        matrix = self.covariance.result().matrix
        ca = self.channels_a
        std = np.sqrt(np.clip(np.diag(matrix), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = matrix[:ca, ca:] / (std[:ca, None] * std[None, ca:])
        return np.where((std[:ca, None] > 0) & (std[None, ca:] > 0), corr, np.nan)


@dataclass
class ChannelMatch:
    """Channel ``a[k]`` of ``layer_a`` is matched to channel ``b[k]`` of ``layer_b`` with ``correlation[k]``.

    ``matrix`` holds every correlation (C_a, C_b); ``probe_a`` / ``probe_b`` are the two layers'
    maps of the first input (C, H, W), from which :meth:`grids` draws.
    """

    layer_a: str
    layer_b: str
    a: np.ndarray
    b: np.ndarray
    correlation: np.ndarray
    matrix: np.ndarray
    probe_a: Optional[torch.Tensor] = field(default=None, repr=False)
    probe_b: Optional[torch.Tensor] = field(default=None, repr=False)
    labels: tuple[str, str] = ("A", "B")

    @property
    def moved(self) -> list[tuple[int, int]]:
        """The ``(a, b)`` pairs whose index changed ("channel 12 became channel 40")."""
        return [(int(i), int(j)) for i, j in zip(self.a, self.b) if i != j]

    def order(self, by: str = "index") -> np.ndarray:
        """Positions into ``a``/``b``: by A's channel ``index``, or ``changed`` (lowest correlation first)."""
        if by == "index":
            return np.arange(len(self.a))
        if by == "changed":
            return np.argsort(np.nan_to_num(self.correlation, nan=-2.0), kind="stable")
        raise InputError(f"Unknown order {by!r} for matched channels; use 'index' or 'changed'.")

    def grids(self, max_channels: Optional[int] = 16, *, order: str = "index", scale: int = 2,
              cmap: Optional[str] = None) -> Any:
        """A and B side by side: A's channels on the left, each tile's match at the same place on the right.

        Both grids share one value range (the two layers' maps of the first input together), so a
        brighter tile is a larger activation on either side. Returns an
        :class:`~layerscope.render.ImageView` (``.array`` is the RGB image).
        """
        return side_by_side(self, max_channels, order=order, scale=scale, cmap=cmap)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"layer_a": self.layer_a, "layer_b": self.layer_b,
                         "pairs": [[int(i), int(j)] for i, j in zip(self.a, self.b)],
                         "correlation": self.correlation, "moved": len(self.moved),
                         "mean_correlation": float(np.nanmean(self.correlation)) if len(self.a) else None},
                        digits=6)


def match_channels(correlation: np.ndarray, layer_a: str = "", layer_b: str = "", **fields: Any) -> ChannelMatch:
    """The assignment of channels that maximises the summed correlation (``fields`` go to :class:`ChannelMatch`).

    >>> match_channels(np.array([[0.1, 0.9, 0.0]]), "x", "y").b.tolist()  # rectangular: 1 channel against 3
    [1]
    """
    from scipy.optimize import linear_sum_assignment

    matrix = np.asarray(correlation, dtype=np.float64)
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise InputError(f"correlation must be a non-empty (C_a, C_b) matrix, got shape {matrix.shape}.")
    rows, cols = linear_sum_assignment(np.nan_to_num(matrix, nan=0.0), maximize=True)
    return ChannelMatch(layer_a, layer_b, rows, cols, matrix[rows, cols], matrix, **fields)
