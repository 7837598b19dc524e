"""Small shared pieces of the view renderers: tensor coercion, one coloured map, labels.

>>> import torch
>>> colored_map(torch.tensor([[0.0, 4.0]]), (1, 4), resize="bilinear", cmap="gray")[0, :, 0].tolist()
[0, 64, 191, 255]
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..core.tensors import as_tensor
from ..errors import InputError
from .colormap import palette, resolve_cmap
from .font import GLYPH_WIDTH, TEXT_HEIGHT, plain_text, text_mask
from .normalize import mode_info, quantize, value_ranges

__all__ = ["as_tensor", "colored_map", "resize_map", "fit_text", "text_band"]

RESIZE_MODES = ("nearest", "bilinear")


def colored_map(
    values: torch.Tensor,
    size: tuple[int, int],
    *,
    resize: str = "nearest",
    normalize: str = "channel",
    value_range: Optional[tuple[float, float]] = None,
    cmap: Optional[str] = None,
) -> np.ndarray:
    """One (H, W) map -> a (size[0], size[1], 3) uint8 image.

    The display range comes from the map as given (``normalize`` is a mode of
    :func:`~layerscope.render.normalize.quantize`; ``value_range`` for ``"global"``), then the map
    is resized and coloured; NaN / Inf are marked magenta. ``cmap=None`` picks the mode's default.
    """
    flat = values.detach()[None]
    low, high = value_ranges(flat, normalize, value_range=value_range)
    resized = resize_map(flat[0], size, resize)[None]
    levels, _ = quantize(resized, normalize, ranges=(low, high))
    return palette(resolve_cmap(cmap, signed=mode_info(normalize).signed))[levels[0].cpu().numpy()]


def resize_map(values: torch.Tensor, size: tuple[int, int], mode: str = "nearest") -> torch.Tensor:
    """Resize a (H, W) map to ``size`` = (height, width) with nearest or bilinear (align_corners=False)."""
    if mode not in RESIZE_MODES:
        raise InputError(f"Unknown resize mode {mode!r}; use one of {', '.join(RESIZE_MODES)}.")
    x = values.to(torch.float32)[None, None]
    if tuple(size) == tuple(values.shape[-2:]):
        return x[0, 0].clone()
    if mode == "nearest":
        return F.interpolate(x, size=tuple(size), mode="nearest-exact")[0, 0]
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)[0, 0]


def fit_text(text: str, width: int) -> str:
    """``text`` cut from the left with '..' so that it fits ``width`` pixels of the bitmap font."""
    chars, text = max(width // GLYPH_WIDTH, 1), plain_text(text)
    if len(text) <= chars:
        return text
    return ".." + text[len(text) - chars + 2 :] if chars > 2 else text[-chars:]


def text_band(lines: Sequence[str], width: int, *, background: int = 255, ink: int = 0,
              left_aligned: bool = False) -> np.ndarray:
    """An (len(lines) * 11 + 4, width, 3) uint8 band with ``lines`` centred (or from the left, 4 px in), in the
    bitmap font of :mod:`.font`."""
    band = np.full((len(lines) * TEXT_HEIGHT + 4, width, 3), background, np.uint8)
    for row, line in enumerate(lines):
        mask = text_mask(fit_text(line, width - 8 * left_aligned))[:, :width]
        left = min(4, max(width - mask.shape[1], 0)) if left_aligned else max((width - mask.shape[1]) // 2, 0)
        top = 2 + row * TEXT_HEIGHT
        band[top : top + TEXT_HEIGHT, left : left + mask.shape[1]][mask] = ink
    return band
