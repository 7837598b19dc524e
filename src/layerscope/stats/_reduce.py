"""Every per-map number a dataset scan needs, from one batch of maps, in a few batched passes on its device.

>>> import torch
>>> r = reduce_maps(torch.tensor([[[[1.0, 3.0]], [[-2.0, float("nan")]]]]))  # (N=1, C=2, 1, 2)
>>> r.count.tolist(), r.mean.tolist(), r.m2.round(decimals=6).tolist(), r.peak.tolist(), r.positives.tolist()
([[2.0, 1.0]], [[2.0, -2.0]], [[2.0, 0.0]], [[3.0, -2.0]], [[2, 0]])

A scan reduces every value of every captured layer, so this is the hot loop. Finite maps (the
usual case, told apart by finite row sums) take a fast path made of vectorized kernels, run block
by block over the maps: a block of about :data:`BLOCK` values and one reused scratch buffer of the
same size stay in the cache while every pass reads the block (its sum, its norm, the values above
the threshold counted through the scratch, its max and min, and on request the argmax and the values
on clamp bounds), so the maps come from memory once. The spread comes from the sum of squares (a
norm) unless the map's mean dominates it, where the map is reduced again in float64 (mean, then
deviations: no cancellation); counts are exact. Per map these are float32 reductions (relative error
about 1e-7) that give a map the same bits in any batch and any block (a block has two rows at least:
torch splits a lone row's sum between threads), so a split of the data changes nothing but the
float64 combination of maps, batches and shards (see :class:`~layerscope.stats.Moments`). A map
with NaN or Inf (its sum or norm is not finite) is reduced again over its finite values in float64; the
other maps of its batch keep their float32 numbers (above, the first map's M2 is 2 to about 1e-7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

__all__ = ["MapReduction", "reduce_maps", "reduce_together", "Scratch", "BLOCK"]

# A map whose M2 is below this share of its sum of squares (mean^2 > 19 variances) is reduced again in float64,
# its mean first and then the deviations: from float32 sums of squares the cancellation would cost more than 1e-6.
SHAKY = 0.05
BLOCK = 1 << 18  # values per block: 1 MiB of float32, and as much scratch, stay in a core's L2 / the L3 cache


@dataclass
class MapReduction:
    """Per map ``(N, C)``: finite ``count``, their ``mean`` and ``m2`` (float64), finite ``min`` / ``max``
    (+-inf without one), ``peak`` (max of the non-NaN values, the top-k and histogram score), ``positives``
    (values above the activity threshold), ``nan`` / ``posinf`` / ``neginf`` counts; ``flat`` the maps
    as ``(N, C, L)``; ``size`` = L. On request (else None): ``index``, the first argmax of each map
    (int64, meaningful for the maps whose values are all finite), and ``hits``, the values at or below
    ``bounds[0]`` or at or above ``bounds[1]`` (float64)."""

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
    index: Optional[torch.Tensor] = None
    hits: Optional[torch.Tensor] = None


class Scratch:
    """One float32 buffer reused for every layer and batch (fresh large tensors cost page faults each time)."""

    def __init__(self) -> None:
        self._buffer: Optional[torch.Tensor] = None
        self._ramps: dict[tuple[int, torch.device], torch.Tensor] = {}

    def like(self, x: torch.Tensor) -> torch.Tensor:
        need = x.numel()
        if self._buffer is None or self._buffer.numel() < need or self._buffer.device != x.device:
            self._buffer = torch.empty(need, dtype=torch.float32, device=x.device)
        return self._buffer[:need].view(x.shape)

    def ramp(self, size: int, device: torch.device) -> torch.Tensor:
        """``size, size - 1, ..., 1`` (float32): the max of ``ramp * (x == max)`` is ``size`` - the first argmax."""
        key = (size, device)
        if key not in self._ramps:
            if len(self._ramps) > 64:
                self._ramps.clear()
            self._ramps[key] = torch.arange(size, 0, -1, dtype=torch.float32, device=device)
        return self._ramps[key]


def _row_sums(x: torch.Tensor) -> torch.Tensor:
    """Sum of each row of a float32 (R, L) matrix, as float64.

    torch's row reduction gives every row the same bits whatever the other rows (BLAS ``mv`` does not: its
    result for a row changes with the row count), so a map's numbers do not depend on its batch.
    """
    return x.sum(1).to(torch.float64)


def reduce_maps(maps: torch.Tensor, active: float = 0.0, scratch: Optional[Scratch] = None, *,
                argmax: bool = False, bounds: Optional[tuple[Optional[float], Optional[float]]] = None,
                moments: bool = False) -> MapReduction:
    """The :class:`MapReduction` of maps ``(N, C, ...)`` (positions: every dim after C).

    ``argmax``: also each map's first argmax (``index``); ``bounds``: also count the values at or below
    ``bounds[0]`` or at or above ``bounds[1]`` (``hits``; a None side is not counted), in the same pass.
    ``moments``: only ``count``, ``mean`` and ``m2`` are wanted (of finite maps: the other fields are then
    left as zeros and infinities, and ``argmax`` and ``bounds`` are ignored).

    >>> import torch
    >>> r = reduce_maps(torch.tensor([[[[0.0, 6.0, 6.0, 2.0]]]]), argmax=True, bounds=(0.0, 6.0))
    >>> r.index.tolist(), r.hits.tolist()
    ([[1]], [[3.0]])
    """
    n, c = maps.shape[:2]
    flat = maps.reshape(n, c, -1)
    x = flat.reshape(n * c, -1)
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.to(torch.float32)
    size = x.shape[1]
    if bounds is not None and bounds[0] is None and bounds[1] is None:
        bounds = None
    if x.dtype == torch.float32 and size <= 1 << 24 and x.shape[0]:
        values = _fast(x, active, scratch or Scratch(), argmax and not moments, None if moments else bounds, moments)
    else:
        values = _masked(x.to(torch.float64), active, argmax, bounds)
    out = [None if v is None else v.reshape(n, c) for v in values]
    return MapReduction(*out[:10], flat=flat, size=size, index=out[10], hits=out[11])


def reduce_together(maps: Sequence[torch.Tensor], active: float = 0.0, scratch: Optional[Scratch] = None, *,
                    argmax: bool = False, bounds: Optional[tuple[Optional[float], Optional[float]]] = None
                    ) -> list[MapReduction]:
    """:func:`reduce_maps` of several batches of maps ``(N, C_i, ...)`` with the same N and positions (the small
    layers of one network), in one call: their channels are joined, so the per-call work is paid once. A map's
    numbers are those :func:`reduce_maps` gives it alone (every map is reduced on its own row).

    >>> import torch
    >>> a, b = torch.rand(2, 3, 4, 4), torch.rand(2, 5, 4, 4)
    >>> ra, rb = reduce_together([a, b], argmax=True)
    >>> torch.equal(rb.m2, reduce_maps(b).m2), torch.equal(ra.index, reduce_maps(a, argmax=True).index)
    (True, True)
    """
    n = maps[0].shape[0]
    flats = [m.reshape(n, m.shape[1], -1) for m in maps]
    joined = reduce_maps(torch.cat(flats, 1), active, scratch, argmax=argmax, bounds=bounds)
    out, start = [], 0
    for flat in flats:
        part = slice(start, start + flat.shape[1])
        start = part.stop
        fields = {name: getattr(joined, name) for name in _FIELDS}
        out.append(MapReduction(**{name: None if v is None else v[:, part] for name, v in fields.items()},
                                flat=flat, size=joined.size))
    return out


_FIELDS = ("count", "mean", "m2", "min", "max", "peak", "positives", "nan", "posinf", "neginf", "index", "hits")


def _blocks(rows: int, size: int) -> list[int]:
    """Row counts of the blocks: about :data:`BLOCK` values each, never a lone row after others."""
    per = max(2, BLOCK // max(size, 1))
    sizes = [per] * (rows // per) + ([rows % per] if rows % per else [])
    if len(sizes) > 1 and sizes[-1] == 1:
        sizes[-2:] = [sizes[-2] + 1]
    return sizes


def _fast(x: torch.Tensor, active: float, scratch: Scratch, argmax: bool,
          bounds: Optional[tuple[Optional[float], Optional[float]]], moments: bool = False
          ) -> tuple[Optional[torch.Tensor], ...]:
    rows, size = x.shape
    lone = rows == 1
    if lone:  # one row: reduced as one of two equal rows, so its bits are those it gets in any batch
        x = x.expand(2, size)
    low_bound, high_bound = bounds if bounds is not None else (None, None)
    both = low_bound is not None and high_bound is not None and low_bound >= high_bound
    ramp = scratch.ramp(size, x.device) if argmax else None
    moment_parts: list[tuple[torch.Tensor, ...]] = []
    other_parts: list[torch.Tensor] = []  # per block: its float32 counts and extrema stacked, one row each
    for block in (x.split(_blocks(len(x), size)) if len(x) * size > BLOCK else (x,)):
        total = block.sum(1).to(torch.float64)
        square = torch.linalg.vector_norm(block, dim=1).to(torch.float64).square()
        mean = total / size
        m2 = (square - total * mean).clamp_min(0)
        shaky = (m2 < SHAKY * square).nonzero()[:, 0]
        if len(shaky):  # the mean dominates: these maps again in float64 (while in cache), the mean, then deviations
            again = block.index_select(0, shaky).to(torch.float64)
            centre = again.sum(1) / size
            mean.index_copy_(0, shaky, centre)
            m2.index_copy_(0, shaky, again.sub_(centre[:, None]).square_().sum(1))
        moment_parts.append((mean, m2, square))
        if not moments:
            other_parts.append(_counts(block, scratch.like(block), active, ramp, bounds, both))
    mean, m2, square = (torch.cat(p)[:1 if lone else None] for p in zip(*moment_parts))
    if lone:
        x = x[:1]
    count = torch.full_like(mean, float(size))
    if moments:  # counts and extrema not wanted: no values above the threshold, no extrema
        zeros = torch.zeros(mean.shape, dtype=torch.int64, device=mean.device)
        top, low = torch.full_like(mean, -math.inf), torch.full_like(mean, math.inf)
        out = [count, mean, m2, low, top, top, zeros, zeros, zeros, zeros, None, None]
    else:
        found = (torch.cat(other_parts, 1) if len(other_parts) > 1 else other_parts[0])[:, :1 if lone else None]
        found = found.to(torch.float64).unbind()
        zeros = torch.zeros(mean.shape, dtype=torch.int64, device=mean.device)
        index = (size - found[3]).to(torch.int64) if argmax else None
        hits = found[4] if bounds is not None else None
        out = [count, mean, m2, found[2], found[1], found[1], found[0].to(torch.int64), zeros, zeros, zeros, index,
               hits]
    if not bool(torch.isfinite(mean + square).all()):  # NaN / Inf (or a float32 overflow): over the finite values
        where = (~torch.isfinite(mean + square)).nonzero()[:, 0]
        out[7:10] = [zeros.clone() for _ in range(3)]
        for i, theirs in enumerate(_masked(x[where].to(torch.float64), active, argmax)):
            if out[i] is not None and theirs is not None:
                if i == 5:  # the peak (max of the non-NaN values) is no longer the finite max
                    out[5] = out[5].clone()
                out[i][where] = theirs.to(out[i].dtype)
        if out[11] is not None:  # compared in float32, as the fast path does
            out[11][where] = _hits(x[where], bounds)
    return tuple(out)


def _counts(block: torch.Tensor, buffer: torch.Tensor, active: float, ramp: Optional[torch.Tensor],
            bounds: Optional[tuple[Optional[float], Optional[float]]], both: bool) -> torch.Tensor:
    """``(5, R)`` float32 for a block of R rows: values above ``active``, max, min, then ``size`` - the first
    argmax (with ``ramp``) and the values on the bounds (with ``bounds``), zeros where not asked; every count
    through the scratch ``buffer``, which stays in cache with the block."""
    top = block.amax(1)
    low = block.amin(1)
    torch.gt(block, active, out=buffer)
    found = [buffer.sum(1), top, low, None, None]
    if ramp is not None:
        torch.eq(block, top[:, None], out=buffer)
        found[3] = buffer.mul_(ramp).amax(1)
    if bounds is not None:
        if both:  # the two sides overlap: one comparison each, joined
            found[4] = _hits(block, bounds).to(torch.float32)
        else:
            for side, compare, reach in ((bounds[0], torch.le, low), (bounds[1], torch.ge, top)):
                if side is None or (block.numel() > 1 << 16 and not bool(
                        ((reach <= side) if compare is torch.le else (reach >= side)).any())):
                    continue  # a large block none of whose maps reaches the bound: no pass over it
                compare(block, side, out=buffer)
                found[4] = buffer.sum(1) if found[4] is None else found[4] + buffer.sum(1)
    zero = torch.zeros_like(top) if found[3] is None or found[4] is None else None
    return torch.stack([zero if v is None else v for v in found])


def _masked(x: torch.Tensor, active: float, argmax: bool = False,
            bounds: Optional[tuple[Optional[float], Optional[float]]] = None) -> tuple[Optional[torch.Tensor], ...]:
    """The same numbers for float64 rows that may hold NaN / Inf: each over the finite values only."""
    finite = torch.isfinite(x)
    count = finite.sum(1).to(torch.float64)
    mean = torch.where(finite, x, 0.0).sum(1) / count.clamp_min(1)
    m2 = torch.where(finite, x - mean[:, None], 0.0).square().sum(1)
    low = torch.where(finite, x, math.inf).amin(1)
    top = torch.where(finite, x, -math.inf).amax(1)
    peak = x.nan_to_num(nan=-math.inf, posinf=math.inf, neginf=-math.inf).amax(1)
    positives = (x > active).sum(1)
    index = x.argmax(1) if argmax else None
    hits = _hits(x, bounds) if bounds is not None else None
    return (count, mean, m2, low, top, peak, positives, torch.isnan(x).sum(1), (x == math.inf).sum(1),
            (x == -math.inf).sum(1), index, hits)


def _hits(x: torch.Tensor, bounds: tuple[Optional[float], Optional[float]]) -> torch.Tensor:
    """Per row of ``x``: the values at or below ``bounds[0]`` or at or above ``bounds[1]`` (float64)."""
    found = torch.zeros_like(x, dtype=torch.bool)
    if bounds[0] is not None:
        found |= x <= bounds[0]
    if bounds[1] is not None:
        found |= x >= bounds[1]
    return found.sum(1).to(torch.float64)
