"""The memory-bound passes of rendering (min/max, levels, NaN marking), for CPU and for other devices.

On CPU the passes run as numpy ufuncs on a zero-copy view of the tensor: single-threaded, they
are as fast as torch's here and do not stall when the cores are busy (torch's OpenMP barriers on
many small memory-bound ops do: 10-20x slower on a loaded 2-core machine). On a GPU (any
non-CPU device) the same passes run as torch ops on the device. ``NUMPY_ON_CPU = False`` forces
the torch path everywhere (the tests run both).

>>> import torch
>>> levels(torch.tensor([[[0.0, 1.0, 2.0]]]), torch.tensor([0.0]), torch.tensor([2.0]), False).tolist()
[[[0, 126, 251]]]
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from .colormap import LEVELS, NONFINITE

__all__ = ["NUMPY_ON_CPU", "minmax", "levels", "mark_nonfinite"]

NUMPY_ON_CPU = True


def _numpy(x: torch.Tensor) -> bool:
    return NUMPY_ON_CPU and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def minmax(x: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Finite min and max over ``dims`` (``0, 0`` where nothing is finite), and whether all was finite."""
    if _numpy(x):
        a = x.numpy()
        lo, hi = a.min(axis=dims), a.max(axis=dims)
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
    return scale[..., None, None], base[..., None, None], magic


_SCRATCH = threading.local()
_SCRATCH_MAX = 64 * 2**20  # bytes kept between calls; larger work arrays are allocated afresh


def _scratch(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A work array of ``shape`` from a per-thread buffer that is reused across calls.

    Fresh memory costs page faults (about as much as the arithmetic itself); reusing one
    buffer avoids them. The result is only valid until the next call in the same thread.
    """
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size > _SCRATCH_MAX:
        return np.empty(shape, dtype)
    buffer = getattr(_SCRATCH, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _SCRATCH.buffer = np.empty(max(size, 1 << 20), np.uint8)
    return buffer[:size].view(dtype).reshape(shape)


def levels(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, signed: bool, bounded: bool = False) -> torch.Tensor:
    """Colormap level (uint8, 0..LEVELS-1) of every value; ``lo``/``hi`` broadcast over the last two dims.

    Rounding uses the float "magic number" trick: adding 2**23 (2**52 for float64) leaves
    ``round(level)`` in the low mantissa bits, so clamping and narrowing happen on the integer
    view; values outside the range, overflows and NaN all land on a valid level (callers mark
    non-finite inputs afterwards). ``bounded=True`` promises finite values within ``[lo, hi]`` (the
    min-max modes on clean data), which skips the clamp. ``x`` is never written.
    """
    scale, base, magic = _scale_base(lo, hi, x.dtype, signed)
    lo = lo[..., None, None].to(x.dtype)
    if _numpy(x):
        ints = np.int64 if x.dtype == torch.float64 else np.int32
        a = x.numpy()
        out = _scratch(a.shape, a.dtype)
        with np.errstate(all="ignore"):  # NaN / Inf / overflow land on a valid level, marked later
            np.subtract(a, lo.cpu().numpy(), out=out)
            np.multiply(out, scale.numpy(), out=out)
            np.add(out, base.numpy(), out=out)
        bits = out.view(ints)
        low = int(np.array(magic, dtype=out.dtype).view(ints))
        if not bounded:
            np.clip(bits, low, low + LEVELS - 1, out=bits)
        return torch.from_numpy(bits.astype(np.uint8))  # keeps the low byte: low is a multiple of 256
    ints = torch.int64 if x.dtype == torch.float64 else torch.int32
    out = torch.sub(x, lo)
    torch.addcmul(base.to(x.device), out, scale.to(x.device), out=out)
    bits = out.view(ints)
    low = int(torch.tensor(magic, dtype=x.dtype).view(ints))
    bits.clamp_(low, low + LEVELS - 1)
    return bits.to(torch.uint8)


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
