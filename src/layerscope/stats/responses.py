"""What a dataset scan keeps about each channel of one layer, in memory independent of the dataset's size.

>>> import torch
>>> maps = torch.tensor([[[[0.0, 4.0]]], [[[-1.0, 1.0]]], [[[2.0, 2.0]]]])  # 3 inputs, 1 channel, 1x2 maps
>>> stats = ResponseStats(1, k=2).update(maps[:2], index=torch.tensor([0, 1]))
>>> s = stats.merge(ResponseStats(1, k=2).update(maps[2:], index=torch.tensor([2]))).result()
>>> s.mean.tolist(), s.max.tolist(), s.active.tolist(), s.top.index.tolist(), s.top_mean.index.tolist()
([1.3333333333333333], [4.0], [0.6666666666666666], [[0, 2]], [[0, 2]])

:class:`ResponseStats` is built from the accumulators of :mod:`layerscope.stats`:
:class:`~layerscope.stats.Moments` (count, mean, variance of every value, float64, Chan et
al.), :class:`~layerscope.stats.Extrema`, :class:`~layerscope.stats.Activity` (positions
above 0 and inputs with one), a :class:`~layerscope.stats.Histogram` of each input's peak
(its map's maximum, on :data:`PEAK_EDGES` unless other edges are given: fixed before the data,
so histograms merge exactly), and two :class:`~layerscope.stats.TopK` lists (by the map's max
and by its mean). A batch is reduced once (:func:`~layerscope.stats._reduce.reduce_maps`) and
every part is fed from that reduction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np
import torch

from ..core.tensors import as_tensor
from ..errors import InputError
from ._base import Accumulator, check_channels
from ._reduce import Scratch, reduce_maps
from .activity import Activity
from .histogram import Histogram, HistogramResult
from .moments import Extrema, Moments, pooled
from .topk import Argmax, TopK, TopKResult

__all__ = ["ResponseStats", "ResponseSummary", "PEAK_EDGES"]

# 0 and +-10^(i/4) for i = -16..16: four bins a decade from 1e-4 to 1e4 on both signs, the same for every layer
PEAK_EDGES = tuple(sorted([0.0, *(s * 10.0 ** (i / 4) for s in (-1.0, 1.0) for i in range(-16, 17))]))


@dataclass
class ResponseSummary:
    """Per channel (arrays of length C): ``count`` finite values, their ``mean``, population ``var``, ``min``,
    ``max``; ``nan`` / ``inf`` counts; ``active`` the share of positions above the threshold and
    ``active_inputs`` the share of inputs with one; ``activity`` the counts behind both; ``peaks`` the
    histogram of the inputs' peaks; ``top`` / ``top_mean`` the k best inputs by map max / mean."""

    channels: int
    inputs: int
    count: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    min: np.ndarray
    max: np.ndarray
    nan: np.ndarray
    inf: np.ndarray
    active: np.ndarray
    active_inputs: np.ndarray
    activity: Any
    peaks: HistogramResult
    top: TopKResult
    top_mean: TopKResult

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var)


class ResponseStats:
    """Streams batches of one layer's maps ``(N, C, ...)`` with their global input indices.

    ``k``: inputs kept per channel in each top-k list; ``edges``: the peak histogram's bin edges
    (default :data:`PEAK_EDGES`); ``active``: the activity threshold (values above it are active).
    """

    def __init__(self, channels: int, *, k: int = 9, edges: Any = None, active: float = 0.0) -> None:
        self.channels = check_channels(channels, "ResponseStats")
        self.moments = Moments(self.channels)
        self.extrema = Extrema(self.channels)
        self.activity = Activity(self.channels, active)
        self.peaks = Histogram(self.channels, PEAK_EDGES if edges is None else edges)
        self.top = TopK(self.channels, k, "max")
        self.top_mean = TopK(self.channels, k, "mean")
        self._scratch = Scratch()

    def __repr__(self) -> str:
        return f"ResponseStats({self.channels}, k={self.top.k}, inputs={self.inputs})"

    @property
    def inputs(self) -> int:
        return int(self.activity._state["total"])

    def _parts(self) -> dict[str, Accumulator]:
        return {"moments": self.moments, "extrema": self.extrema, "activity": self.activity, "peaks": self.peaks,
                "top": self.top, "top_mean": self.top_mean}

    def update(self, maps: Any, index: Any = None, *, scratch: Optional[Scratch] = None) -> "ResponseStats":
        """Add maps ``(N, C, ...)`` of the inputs ``index`` (N,) (default: consecutive from the inputs seen).

        ``scratch``: a buffer shared with other layers (a scan passes one for all of them).
        """
        x = as_tensor(maps, "maps")
        if x.dim() < 2 or x.shape[1] != self.channels or (len(x) and x[0, 0].numel() == 0):
            raise InputError(
                f"{self!r} got maps of shape {tuple(x.shape)}; it needs (N, {self.channels}, ...) with positions."
            )
        if not len(x):
            return self
        if index is None:
            seen = int(self.top._state["seen"])
            index = torch.arange(seen, seen + len(x))
        r = reduce_maps(x, self.activity.threshold, scratch or self._scratch)
        count, mean, m2 = pooled(r.count, r.mean, r.m2)
        counts = {name: getattr(r, name).sum(0) for name in ("nan", "posinf", "neginf")}
        self.moments._fold({"count": count, "mean": mean, "m2": m2, **counts}, placed=True)
        self.extrema._fold({"min": r.min.amin(0), "max": r.max.amax(0)}, placed=True)
        self.activity._fold(self.activity.counted(r.positives, r.size), placed=True)
        self.peaks.update(r.peak)
        where = Argmax(r.flat)  # both lists keep the map's argmax: found once
        self.top.update_scores(r.peak, index, where)
        self.top_mean.update_scores(torch.where(r.count > 0, r.mean, torch.nan), index, where)
        return self

    def merge(self, other: "ResponseStats") -> "ResponseStats":
        """Fold in the statistics of the same layer over other (disjoint) inputs; returns self."""
        if not isinstance(other, ResponseStats) or other.channels != self.channels:
            raise InputError(f"Cannot merge {other!r} into {self!r}: merge only the ResponseStats of the same layer.")
        theirs = other._parts()
        for name, part in self._parts().items():
            part.merge(theirs[name])
        return self

    def to(self, device: Any) -> "ResponseStats":
        """Move every part's state to ``device``; returns self."""
        for part in self._parts().values():
            part.to(device)
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The state as one flat dict of tensors (parts prefixed ``moments.``, ``top.`` ...)."""
        return {f"{name}.{key}": value for name, part in self._parts().items() for key, value in part.state_dict().items()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "ResponseStats":
        """Rebuild from :meth:`state_dict` (k, histogram edges and threshold included)."""
        parts: dict[str, dict[str, Any]] = {}
        for key, value in state.items():
            name, _, entry = key.partition(".")
            parts.setdefault(name, {})[entry] = value
        expected = ("moments", "extrema", "activity", "peaks", "top", "top_mean")
        if sorted(parts) != sorted(expected):
            raise InputError(
                f"ResponseStats.from_state: the state has parts {sorted(parts)}, expected {list(expected)}; "
                "pass a ResponseStats state_dict()."
            )
        built = {name: kind.from_state(parts[name]) for name, kind in
                 (("moments", Moments), ("extrema", Extrema), ("activity", Activity), ("peaks", Histogram),
                  ("top", TopK), ("top_mean", TopK))}
        stats = cls(built["moments"].channels, k=built["top"].k, edges=built["peaks"]._state["edges"],
                    active=built["activity"].threshold)
        for name, part in built.items():
            setattr(stats, name, part)
        return stats

    def result(self) -> ResponseSummary:
        """The per-channel summary (numpy, CPU)."""
        m, e, a = self.moments.result(), self.extrema.result(), self.activity.result()
        return ResponseSummary(
            channels=self.channels, inputs=a.total, count=m.count, mean=m.mean, var=m.var, min=e.min, max=e.max,
            nan=m.nan, inf=m.posinf + m.neginf, active=a.position_share, active_inputs=a.input_share, activity=a,
            peaks=self.peaks.result(), top=self.top.result(), top_mean=self.top_mean.result(),
        )
