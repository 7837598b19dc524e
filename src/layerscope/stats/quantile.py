"""Percentiles of the finite values of a tensor, on its device: the one implementation every caller uses.

>>> import torch
>>> x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [10.0, float("nan"), 30.0, float("inf")]])
>>> low, mid = percentiles(x, (0, 50), dims=1)
>>> low.tolist(), mid.tolist()
([1.0, 10.0], [2.5, 20.0])
>>> percentiles(x[0], (50,), method="nearest")[0].item()  # rank 1.5 rounds to even: 2
3.0

Without non-finite values the two ranks a percentile needs come from ``topk`` on the
shorter side of the distribution (fast for tails, no size limit); otherwise the finite
values of each row are sorted.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch

from ..errors import InputError, did_you_mean

__all__ = ["percentiles", "METHODS"]

METHODS = ("linear", "nearest")


def percentiles(
    x: torch.Tensor,
    q: Sequence[float],
    dims: Union[int, Sequence[int], None] = None,
    *,
    method: str = "linear",
) -> tuple[torch.Tensor, ...]:
    """The percentiles ``q`` (each 0..100) of the finite values of ``x`` over ``dims`` (all if None).

    Like :func:`numpy.nanpercentile` with its ``method``, NaN and +-Inf left out: ``"linear"``
    interpolates between the two nearest ranks, ``"nearest"`` takes the nearest rank (halves to
    even). One tensor per ``q``, of ``x``'s shape without ``dims`` and its floating dtype; 0 where
    no value is finite.
    """
    if method not in METHODS:
        raise InputError(f"Unknown percentile method {method!r}.{did_you_mean(method, METHODS)} Use one of: {', '.join(METHODS)}.")
    qs = tuple(float(p) for p in q)
    if not all(0.0 <= p <= 100.0 for p in qs):
        raise InputError(f"Percentiles must lie in 0..100, got {q!r}.")
    x = x if x.is_floating_point() else x.double()
    dim, rows = _rows(x, dims)
    finite = None if bool(rows.sum().isfinite()) else torch.isfinite(rows)  # a finite sum: no NaN / Inf
    if finite is None or bool(finite.all()):
        return tuple(_percentile(rows, dim, p, method) for p in qs)
    return _ragged(rows.movedim(dim, -1), finite.movedim(dim, -1), qs, method)


def _rows(x: torch.Tensor, dims: Union[int, Sequence[int], None]) -> tuple[int, torch.Tensor]:
    """``(dim, rows)``: ``x`` with ``dims`` as the one dim ``dim`` (untouched when ``dims`` is one dim)."""
    if x.dim() == 0:
        return -1, x.reshape(1)
    reduce = range(x.dim()) if dims is None else [dims] if isinstance(dims, int) else dims
    reduce = sorted({d % x.dim() for d in reduce})
    if len(reduce) == 1:
        return reduce[0], x
    keep = [d for d in range(x.dim()) if d not in reduce]
    return -1, x.permute(*keep, *reduce).reshape(*[x.shape[d] for d in keep], -1)


def _ranks(rows: torch.Tensor, dim: int, low: int, high: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The values of 0-based ranks ``low <= high`` along ``dim``, by ``topk`` from the nearer end."""
    count = rows.shape[dim]
    if high + 1 <= count - low:
        smallest = rows.topk(high + 1, dim=dim, largest=False).values
        return smallest.select(dim, low), smallest.select(dim, high)
    largest = rows.topk(count - low, dim=dim).values  # position k holds rank count - 1 - k
    return largest.select(dim, count - 1 - low), largest.select(dim, count - 1 - high)


def _percentile(rows: torch.Tensor, dim: int, p: float, method: str) -> torch.Tensor:
    """One percentile along ``dim`` of rows that are all finite (every row has the same count)."""
    count = rows.shape[dim]
    if count == 0:
        return rows.new_zeros([size for d, size in enumerate(rows.shape) if d != dim % rows.dim()])
    pos = (count - 1) * (p / 100.0)
    if method == "nearest":
        return _ranks(rows, dim, round(pos), round(pos))[0]
    below = math.floor(pos)
    low, high = _ranks(rows, dim, below, min(below + 1, count - 1))
    return (low.double() + (high.double() - low.double()) * (pos - below)).to(rows.dtype)


def _ragged(rows: torch.Tensor, finite: torch.Tensor, qs: tuple[float, ...], method: str) -> tuple[torch.Tensor, ...]:
    """Percentiles of rows with different counts of finite values: sort, NaN last, then index."""
    ordered = torch.where(finite, rows, torch.nan).sort(dim=-1).values
    count = finite.sum(dim=-1, keepdim=True)
    last = (count - 1).clamp(min=0)
    out = []
    for p in qs:
        pos = last.double() * (p / 100.0)
        below = (pos.round() if method == "nearest" else pos.floor()).long()
        low = ordered.gather(-1, below)
        if method == "linear":
            high = ordered.gather(-1, torch.minimum(below + 1, last)).double()
            low = (low.double() + (high - low.double()) * (pos - below)).to(rows.dtype)
        out.append(torch.where(count > 0, low, torch.zeros_like(low)).squeeze(-1))
    return tuple(out)

