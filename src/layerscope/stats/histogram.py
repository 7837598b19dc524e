"""Per-channel histograms on bin edges fixed before the data, so that merging is exact: counts add.

>>> import torch
>>> h = Histogram(1, [0.0, 1.0, 2.0]).update(torch.tensor([[-5.0], [0.0], [0.5], [1.0], [2.0], [9.0], [float("nan")]]))
>>> r = h.result()
>>> r.counts.tolist(), r.underflow.tolist(), r.overflow.tolist(), r.nan.tolist()
([[2, 2]], [1], [1], [1])

Bins are half-open ``[e_i, e_i+1)`` except the last, which holds its upper edge (as in
:func:`numpy.histogram`); values below the first edge (and -Inf) go to ``underflow``, above the
last (and +Inf) to ``overflow``, NaN to ``nan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from ..core.tensors import as_tensor
from ..errors import InputError
from ._base import Accumulator, check_channels, per_channel

__all__ = ["Histogram", "HistogramResult"]

_COUNTS = ("counts", "underflow", "overflow", "nan")


@dataclass
class HistogramResult:
    """``edges`` (C, B+1), ``counts`` (C, B) and per-channel ``underflow``, ``overflow``, ``nan`` counts."""

    edges: np.ndarray
    counts: np.ndarray
    underflow: np.ndarray
    overflow: np.ndarray
    nan: np.ndarray


def _check_edges(edges: Any, channels: int) -> torch.Tensor:
    """``edges`` as a float64 (C, B+1) tensor: one row for every channel, or one per channel."""
    try:
        e = as_tensor(edges if isinstance(edges, (torch.Tensor, np.ndarray)) else np.asarray(edges, np.float64), "edges")
    except (TypeError, ValueError):
        raise InputError(f"Histogram edges must be numbers, got {edges!r}.") from None
    e = e.to(torch.float64)
    if e.dim() == 1:
        e = e.expand(channels, -1)
    if e.dim() != 2 or e.shape[0] != channels or e.shape[1] < 2:
        raise InputError(
            f"Histogram({channels}) needs bin edges of shape (B+1,) or ({channels}, B+1) with B >= 1, "
            f"got shape {tuple(e.shape)}."
        )
    if not bool(torch.isfinite(e).all()) or not bool((e[:, 1:] > e[:, :-1]).all()):
        raise InputError("Histogram edges must be finite and strictly increasing, e.g. torch.linspace(-3, 3, 61).")
    return e.contiguous().clone()


class Histogram(Accumulator):
    """Counts of each channel's values in bins between ``edges``: (B+1,) shared, or (C, B+1) per channel.

    Decide the edges before the data (e.g. from a first pass or the layer's known range); two
    histograms merge only when their edges are equal.
    """

    _SIZED = "counts"

    def __init__(self, channels: int, edges: Any) -> None:
        self._edges = _check_edges(edges, check_channels(channels, "Histogram"))
        super().__init__(channels)

    def __repr__(self) -> str:
        return f"Histogram({self.channels}, {self.bins} bins)"

    @property
    def bins(self) -> int:
        return int(self._state["edges"].shape[1]) - 1

    @classmethod
    def _blank(cls, state: Mapping[str, Any]) -> "Histogram":
        if "edges" not in state:
            raise InputError("Histogram.from_state: the state has no 'edges'; pass a Histogram's state_dict().")
        return cls(cls._channels_in(state), state["edges"])

    def _empty(self, device: torch.device) -> dict[str, torch.Tensor]:
        c, b = self._edges.shape[0], self._edges.shape[1] - 1
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.int64, device=device)  # noqa: E731
        return {"edges": self._edges.to(device), "counts": zeros(c, b), "underflow": zeros(c), "overflow": zeros(c), "nan": zeros(c)}

    def _batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = per_channel(x)
        edges = self._state["edges"].to(rows.device)
        c, bins = edges.shape[0], edges.shape[1] - 1
        # slot 0: underflow, 1..B: the bins, B+1: overflow, B+2: NaN
        slot = torch.searchsorted(edges, rows.contiguous(), right=True)
        slot = torch.where(rows == edges[:, -1:], bins, slot)  # the last bin holds its upper edge
        slot = torch.where(torch.isnan(rows), bins + 2, slot)
        slot = slot + torch.arange(c, device=rows.device)[:, None] * (bins + 3)
        counts = torch.bincount(slot.reshape(-1), minlength=c * (bins + 3)).reshape(c, bins + 3)
        return {
            "edges": edges, "counts": counts[:, 1 : bins + 1], "underflow": counts[:, 0],
            "overflow": counts[:, bins + 1], "nan": counts[:, bins + 2],
        }

    def _combine(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"edges": a["edges"], **{name: a[name] + b[name] for name in _COUNTS}}

    def _check_mergeable(self, other: Any) -> None:
        super()._check_mergeable(other)
        mine, theirs = self._state["edges"], other._state["edges"].to(self.device)
        if mine.shape != theirs.shape or not torch.equal(mine, theirs):
            raise InputError(
                f"Cannot merge {other!r} into {self!r}: the bin edges differ; histograms merge exactly "
                f"only on the same edges, so build every part from one set of edges decided before the data."
            )

    def result(self) -> HistogramResult:
        return HistogramResult(**self._numpy())
