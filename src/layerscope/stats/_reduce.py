"""Every per-map number a dataset scan needs, from one batch of maps, in a few batched passes on its device.

>>> import torch
>>> r = reduce_maps(torch.tensor([[[[1.0, 3.0]], [[-2.0, float("nan")]]]]))  # (N=1, C=2, 1, 2)
>>> r.count.tolist(), r.mean.tolist(), r.m2.tolist(), r.peak.tolist(), r.positives.tolist()
([[2.0, 1.0]], [[2.0, -2.0]], [[2.0, 0.0]], [[3.0, -2.0]], [[2, 0]])

A scan reduces every value of every captured layer, so this is the hot loop. Finite batches
(the usual case, told apart by finite row sums) take a fast path made of vectorized kernels that
never copy the activation more than into one reused scratch buffer: the spread comes from the
sum of squares (a norm) unless the map's
mean dominates it, where the map is reduced again in float64 (mean, then deviations: no
cancellation); counts are exact. Per map these are
float32 reductions (relative error about 1e-7) that give a map the same bits in any batch, so a
split of the data changes nothing but the float64 combination of maps, batches and shards (see
:class:`~layerscope.stats.Moments`). A batch with NaN or Inf takes a masked float64 path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

__all__ = ["MapReduction", "reduce_maps", "Scratch"]

# A map whose M2 is below this share of its sum of squares (mean^2 > 19 variances) is reduced again in float64,
# its mean first and then the deviations: from float32 sums of squares the cancellation would cost more than 1e-6.
SHAKY = 0.05


@dataclass
class MapReduction:
    """Per map ``(N, C)``: finite ``count``, their ``mean`` and ``m2`` (float64), finite ``min`` / ``max``
    (+-inf without one), ``peak`` (max of the non-NaN values, the top-k and histogram score), ``positives``
    (values above the activity threshold), ``nan`` / ``posinf`` / ``neginf`` counts; ``flat`` the maps
    as ``(N, C, L)``; ``size`` = L."""

    count: torch.Tensor
    mean: torch.Tensor
    m2: torch.Tensor
    min: torch.Tensor
    max: torch.Tensor
    peak: torch.Tensor
    positives: torch.Tensor
    nan: torch.Tensor
    posinf: torch.Tensor
    neginf: torch.Tensor
    flat: torch.Tensor
    size: int


class Scratch:
    """One float32 buffer reused for every layer and batch (fresh large tensors cost page faults each time)."""

    def __init__(self) -> None:
        self._buffer: Optional[torch.Tensor] = None

    def like(self, x: torch.Tensor) -> torch.Tensor:
        need = x.numel()
        if self._buffer is None or self._buffer.numel() < need or self._buffer.device != x.device:
            self._buffer = torch.empty(need, dtype=torch.float32, device=x.device)
        return self._buffer[:need].view(x.shape)


def _row_sums(x: torch.Tensor) -> torch.Tensor:
    """Sum of each row of a float32 (R, L) matrix, as float64.

    torch's row reduction gives every row the same bits whatever the other rows (BLAS ``mv`` does not: its
    result for a row changes with the row count), so a map's numbers do not depend on its batch.
    """
    return x.sum(1).to(torch.float64)


def reduce_maps(maps: torch.Tensor, active: float = 0.0, scratch: Optional[Scratch] = None) -> MapReduction:
    """The :class:`MapReduction` of maps ``(N, C, ...)`` (positions: every dim after C)."""
    n, c = maps.shape[:2]
    flat = maps.reshape(n, c, -1)
    x = flat.reshape(n * c, -1)
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.to(torch.float32)
    size = x.shape[1]
    if x.dtype == torch.float32:
        fast = _fast(x, active, scratch or Scratch())
        if fast is not None:
            return MapReduction(*(v.reshape(n, c) for v in fast), flat=flat, size=size)
    return MapReduction(*(v.reshape(n, c) for v in _masked(x.to(torch.float64), active)), flat=flat, size=size)


def _fast(x: torch.Tensor, active: float, scratch: Scratch) -> Optional[tuple[torch.Tensor, ...]]:
    size = x.shape[1]
    total = _row_sums(x)
    if not bool(torch.isfinite(total).all()):
        return None
    mean = total / size
    square = torch.linalg.vector_norm(x, dim=1).to(torch.float64).square()
    m2 = (square - total * mean).clamp_min(0)
    shaky = (m2 < SHAKY * square).nonzero()[:, 0]
    if len(shaky):  # the mean dominates: these maps again in float64, the mean first, then the deviations
        rows = x[shaky].to(torch.float64)
        total[shaky] = rows.sum(1)
        mean[shaky] = total[shaky] / size
        m2[shaky] = (rows - mean[shaky, None]).square().sum(1)
    buffer = scratch.like(x)
    torch.gt(x, active, out=buffer)
    positives = _row_sums(buffer).round().to(torch.int64)
    top, low = x.amax(1).to(torch.float64), x.amin(1).to(torch.float64)
    zeros = torch.zeros_like(positives)
    count = torch.full_like(mean, float(size))
    return count, mean, m2, low, top, top, positives, zeros, zeros, zeros


def _masked(x: torch.Tensor, active: float) -> tuple[torch.Tensor, ...]:
    """The same numbers for float64 rows that may hold NaN / Inf: each over the finite values only."""
    finite = torch.isfinite(x)
    count = finite.sum(1).to(torch.float64)
    mean = torch.where(finite, x, 0.0).sum(1) / count.clamp_min(1)
    m2 = torch.where(finite, x - mean[:, None], 0.0).square().sum(1)
    low = torch.where(finite, x, math.inf).amin(1)
    top = torch.where(finite, x, -math.inf).amax(1)
    peak = x.nan_to_num(nan=-math.inf, posinf=math.inf, neginf=-math.inf).amax(1)
    positives = (x > active).sum(1)
    return (count, mean, m2, low, top, peak, positives, torch.isnan(x).sum(1), (x == math.inf).sum(1),
            (x == -math.inf).sum(1))
