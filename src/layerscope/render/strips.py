"""Caption and colorbar strips, drawn in palette indices above / below a grid.

>>> import numpy as np
>>> from layerscope.render.normalize import Normalization
>>> text = caption_text(Normalization("layer", (0.0,), (2.5,)), "features.0", "viridis")
>>> text
'features.0 | layer min-max [0, 2.5] | viridis'
>>> colorbar_strip(Normalization("layer", (0.0,), (2.5,)), width=80).shape
(24, 80)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from .colormap import BACKGROUND, FRAME, LEVELS, TEXT
from .font import GLYPH_WIDTH, TEXT_HEIGHT, plain_text, text_mask
from .normalize import Normalization, format_value, mode_info

if TYPE_CHECKING:
    from .grid import GridMeta

__all__ = ["caption_text", "caption_strip", "colorbar_strip", "colorbar_width", "add_strips"]

_MARGIN = 2
_BAR_HEIGHT = 8
_FLAT_NAMED = 3  # flat channels named with their value in a caption; the rest are counted


def caption_text(norm: Normalization, layer: Optional[str], cmap: str, selection: str = "",
                 channels: tuple[int, ...] = ()) -> str:
    """``layer | which channels and why | normalization and range (and the flat channels' values) | cmap``.

    >>> caption_text(Normalization("channel", (0.0, -1.0), (1.0, 1.0), flat=(1,), flat_values=(2e-8,)), "conv",
    ...              "viridis", "2 of 32 channels, ranked by mean activation", (5, 11))
    'conv | 2 of 32 channels, ranked by mean activation | channel min-max, ranges within [-1, 1]; 1 flat (round-off range, drawn on the layer scale): ch 11 = 2e-08 | viridis'
    """
    parts = [layer] if layer else []
    if selection:
        parts.append(selection)
    scale = norm.describe()
    if norm.flat:
        named = [f"ch {channels[p] if p < len(channels) else p} = {format_value(v)}"
                 for p, v in zip(norm.flat[:_FLAT_NAMED], norm.flat_values)]
        more = len(norm.flat) - _FLAT_NAMED
        scale = scale.replace(" drawn on the layer scale)", " drawn on the layer scale): " + ", ".join(named)
                              + (f", {more} more" if more > 0 else ""), 1)
    return " | ".join(parts + [scale, cmap])


def _canvas(height: int, width: int) -> np.ndarray:
    return np.full((height, width), BACKGROUND, dtype=np.uint8)


def _draw(canvas: np.ndarray, text: str, top: int, left: int) -> None:
    mask = text_mask(text)
    h, w = canvas.shape
    mask = mask[: max(0, h - top), : max(0, w - left)]
    canvas[top : top + mask.shape[0], left : left + mask.shape[1]][mask] = TEXT


def caption_strip(text: str, width: int) -> np.ndarray:
    """The caption on one line (never wrapped, so never cut mid-word): at least ``width`` wide, wider if the text is."""
    text = plain_text(text)
    width = max(width, len(text) * GLYPH_WIDTH + 2 * _MARGIN)
    canvas = _canvas(TEXT_HEIGHT + _MARGIN, width)
    _draw(canvas, text, _MARGIN, _MARGIN)
    return canvas


def _bar_labels(norm: Normalization) -> list[str]:
    info = mode_info(norm.mode)
    if info.per_channel and info.robust:
        low, high = norm.percentiles
        return [f"channel p{format_value(low)}", f"channel p{format_value(high)}"]
    if info.per_channel:
        return ["-max|x|", "0", "+max|x|"] if info.signed else ["channel min", "channel max"]
    labels = [format_value(norm.vmin[0]), format_value(norm.vmax[0])]
    return labels[:1] + ["0"] + labels[1:] if norm.signed else labels


def colorbar_width(norm: Normalization) -> int:
    """The narrowest colorbar strip that holds its labels, in pixels."""
    return sum(len(t) + 1 for t in _bar_labels(norm)) * GLYPH_WIDTH + 2 * _MARGIN


def colorbar_strip(norm: Normalization, width: int) -> np.ndarray:
    """A framed gradient of the colormap's levels with its range written under the ends."""
    labels = _bar_labels(norm)
    width = max(width, colorbar_width(norm))
    canvas = _canvas(_MARGIN + _BAR_HEIGHT + TEXT_HEIGHT + _MARGIN + 1, width)
    bar_w = width - 2 * _MARGIN
    gradient = np.linspace(0, LEVELS - 1, max(bar_w - 2, 1)).round().astype(np.uint8)
    top, bottom = _MARGIN, _MARGIN + _BAR_HEIGHT
    canvas[top:bottom, _MARGIN : _MARGIN + bar_w] = FRAME
    canvas[top + 1 : bottom - 1, _MARGIN + 1 : _MARGIN + bar_w - 1] = gradient
    text_top = bottom + 1
    _draw(canvas, labels[0], text_top, _MARGIN)
    _draw(canvas, labels[-1], text_top, width - _MARGIN - len(labels[-1]) * GLYPH_WIDTH)
    if len(labels) == 3:
        _draw(canvas, labels[1], text_top, width // 2 - len(labels[1]) * GLYPH_WIDTH // 2)
    return canvas


def _widen(pixels: np.ndarray, width: int) -> np.ndarray:
    if pixels.shape[1] >= width:
        return pixels
    extra = _canvas(pixels.shape[0], width - pixels.shape[1])
    return np.concatenate([pixels, extra], axis=1)


def add_strips(pixels: np.ndarray, meta: "GridMeta", *, caption: Union[bool, str],
               colorbar: Optional[bool]) -> np.ndarray:
    """``pixels`` with a caption strip above and / or a colorbar strip below (widened to fit). ``colorbar=None``:
    where there is room (the grid is as wide as the strip needs)."""
    if colorbar is None:
        colorbar = pixels.shape[1] >= colorbar_width(meta.normalization)
    if not caption and not colorbar:
        return pixels
    parts = []
    if caption:
        text = caption if isinstance(caption, str) else caption_text(
            meta.normalization, meta.title or meta.layer, meta.cmap, meta.selection, meta.channels)
        parts.append(caption_strip(text, pixels.shape[1]))
    parts.append(pixels)
    if colorbar:
        parts.append(colorbar_strip(meta.normalization, pixels.shape[1]))
    width = max(p.shape[1] for p in parts)
    return np.concatenate([_widen(p, width) for p in parts], axis=0)
