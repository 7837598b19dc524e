"""The memory-bound passes of rendering (min/max, levels, NaN marking), for CPU and for other devices.

On CPU the passes run as numpy ufuncs over blocks of maps small enough to stay in cache
(``_BLOCK`` bytes): the block is read from memory once and every later pass hits the cache,
which makes them ~1.7x faster than whole-array passes. Single-threaded, they also do not stall
when the cores are busy (torch's OpenMP barriers on many memory-bound ops do: 10-20x slower on
a loaded 2-core machine). On a GPU (any non-CPU device) the same passes run as torch ops on the
device. ``NUMPY_ON_CPU = False`` forces the torch path everywhere (the tests run both).

>>> import torch
>>> levels(torch.tensor([[[0.0, 1.0, 2.0]]]), torch.tensor([0.0]), torch.tensor([2.0]), False).tolist()
[[[0, 126, 251]]]
"""

from __future__ import annotations

import numpy as np
import torch

from .colormap import LEVELS, NONFINITE

__all__ = ["NUMPY_ON_CPU", "minmax", "levels", "mark_nonfinite"]

NUMPY_ON_CPU = True
_BLOCK = 1 << 18  # bytes of floats per step


def _numpy(x: torch.Tensor) -> bool:
    return NUMPY_ON_CPU and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def _rows(x: torch.Tensor) -> np.ndarray:
    """``(maps, H*W)`` numpy view of ``(..., H, W)`` (a contiguous copy first if it must)."""
    a = x.numpy()
    return np.ascontiguousarray(a).reshape(-1, a.shape[-2] * a.shape[-1])


def _blocks(rows: np.ndarray):
    step = max(1, _BLOCK // (rows.shape[1] * rows.itemsize))
    return (slice(i, i + step) for i in range(0, rows.shape[0], step))


def minmax(x: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Finite min and max over ``dims`` (``0, 0`` where nothing is finite), and whether all was finite.

    ``dims`` is ``(-2, -1)`` (per map) or ``(-3, -2, -1)`` (per layer).
    """
    if _numpy(x):
        rows = _rows(x)
        lo, hi = np.empty(rows.shape[0], rows.dtype), np.empty(rows.shape[0], rows.dtype)
        for block in _blocks(rows):
            rows[block].min(axis=1, out=lo[block])
            rows[block].max(axis=1, out=hi[block])  # from cache
        lo, hi = lo.reshape(x.shape[:-2]), hi.reshape(x.shape[:-2])
        if len(dims) == 3:
            lo, hi = lo.min(axis=-1), hi.max(axis=-1)
        if np.isfinite(lo).all() and np.isfinite(hi).all():
            return torch.from_numpy(np.asarray(lo)), torch.from_numpy(np.asarray(hi)), True
    else:
        lo, hi = x.amin(dim=dims), x.amax(dim=dims)
        if bool(torch.isfinite(lo).all() and torch.isfinite(hi).all()):
            return lo, hi, True  # NaN propagates through min/max: finite results mean finite inputs
    finite = torch.isfinite(x)
    lo = torch.where(finite, x, torch.inf).amin(dim=dims)
    hi = torch.where(finite, x, -torch.inf).amax(dim=dims)
    empty = ~finite.any(dim=dims)
    return lo.masked_fill(empty, 0.0), hi.masked_fill(empty, 0.0), False


def _scale_base(lo: torch.Tensor, hi: torch.Tensor, dtype: torch.dtype, signed: bool):
    """Per-map ``scale`` and ``base`` (the magic number, or it + the middle level for flat signed maps)."""
    magic = 2.0**52 if dtype == torch.float64 else 2.0**23
    span = hi.double().cpu() - lo.double().cpu()
    scale = ((LEVELS - 1) / span.clamp(min=1e-300)).to(dtype)
    flat = ~(span > 0) | ~torch.isfinite(scale)  # no spread, or too little for the dtype
    scale = scale.masked_fill(flat, 0.0)
    base = torch.where(flat & signed, magic + LEVELS // 2, magic).to(dtype)
    return scale, base, magic


def levels(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, signed: bool, bounded: bool = False) -> torch.Tensor:
    """Colormap level (uint8, 0..LEVELS-1) of every value; ``lo``/``hi`` hold one value per map.

    Rounding uses the float "magic number" trick: adding 2**23 (2**52 for float64) leaves
    ``round(level)`` in the low mantissa bits, so clamping and narrowing happen on the integer
    view; values outside the range, overflows and NaN all land on a valid level (callers mark
    non-finite inputs afterwards). ``bounded=True`` promises finite values within ``[lo, hi]`` (the
    min-max modes on clean data), which skips the clamp. ``x`` is never written.
    """
    scale, base, magic = _scale_base(lo, hi, x.dtype, signed)
    lo = lo.to(x.dtype)
    if _numpy(x):
        return torch.from_numpy(_levels_numpy(x, lo, scale, base, magic, bounded))
    ints = torch.int64 if x.dtype == torch.float64 else torch.int32
    out = torch.sub(x, lo[..., None, None])
    out.mul_(scale[..., None, None].to(x.device)).add_(base[..., None, None].to(x.device))  # as numpy: no FMA
    bits = out.view(ints)
    low = int(torch.tensor(magic, dtype=x.dtype).view(ints))
    bits.clamp_(low, low + LEVELS - 1)
    return bits.to(torch.uint8)


def _levels_numpy(x, lo, scale, base, magic, bounded) -> np.ndarray:
    rows = _rows(x)
    ints = np.int64 if rows.dtype == np.float64 else np.int32
    low = int(np.array(magic, dtype=rows.dtype).view(ints))
    per_map = [np.ascontiguousarray(t.expand(x.shape[:-2]).cpu().numpy()).reshape(-1, 1) for t in (lo, scale, base)]
    out = np.empty(rows.shape, np.uint8)
    work = np.empty(min(rows.size, max(_BLOCK // rows.itemsize, rows.shape[1])), rows.dtype)
    with np.errstate(all="ignore"):  # NaN / Inf / overflow land on a valid level, marked later
        for block in _blocks(rows):
            src = rows[block]
            tmp = work[: src.size].reshape(src.shape)
            np.subtract(src, per_map[0][block], out=tmp)
            np.multiply(tmp, per_map[1][block], out=tmp)
            np.add(tmp, per_map[2][block], out=tmp)
            bits = tmp.view(ints)
            if not bounded:
                np.clip(bits, low, low + LEVELS - 1, out=bits)
            np.copyto(out[block], bits, casting="unsafe")  # keeps the low byte: low is a multiple of 256
    return out.reshape(x.shape)


def mark_nonfinite(x: torch.Tensor, out: torch.Tensor, clean) -> torch.Tensor:
    """Set ``NONFINITE`` where ``x`` is NaN/Inf (in place on ``out``); returns the count per item."""
    counts = torch.zeros(x.shape[:-3], dtype=torch.long)
    if not x.is_floating_point():
        return counts
    if clean is None:  # a finite sum means every value is finite
        if _numpy(x):
            with np.errstate(over="ignore", invalid="ignore"):
                clean = bool(np.isfinite(x.numpy().sum()))
        else:
            clean = bool(torch.isfinite(x.sum()))
    if clean:
        return counts
    bad = ~torch.isfinite(x)
    out.masked_fill_(bad.to(out.device), NONFINITE)
    return bad.sum(dim=(-3, -2, -1)).cpu()
