"""One map per layer (mean, max or L2 over channels) and the shallow-to-deep strip of those maps for one input.

>>> import torch
>>> summarize(torch.tensor([[[1.0, -2.0]], [[3.0, 2.0]]]), "mean").tolist()
[[2.0, 0.0]]
>>> summarize(torch.tensor([[[3.0]], [[4.0]]]), "l2").tolist()
[[5.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

from collections.abc import Mapping
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..core.options import Options
from ._viewkit import as_tensor, colored_map, text_band
from ..core.layout import layer_maps, select_names

__all__ = ["SUMMARIES", "check_summary", "summarize", "summary_panel", "progression_strip"]

SUMMARIES = ("mean", "max", "l2")


def check_summary(mode: str) -> str:
    """``mode`` if it is one of :data:`SUMMARIES`, else an :class:`InputError` listing them."""
    if mode not in SUMMARIES:
        raise InputError(f"Unknown summary {mode!r}; use one of {', '.join(SUMMARIES)}.")
    return mode


def summarize(maps: Any, mode: str = "mean") -> torch.Tensor:
    """Collapse the channel dim: ``(C, H, W) -> (H, W)`` or ``(N, C, H, W) -> (N, H, W)``, in float32.

    ``mean`` and ``max`` over channels; ``l2`` is the Euclidean norm ``sqrt(sum_c x_c**2)``
    (not divided by C). NaN propagates (so it stays visible). A :class:`~layerscope.render.Maps`
    (from :func:`~layerscope.render.to_maps`) is summarized through its ``.maps``.
    """
    x = as_tensor(getattr(maps, "maps", maps))
    if x.dim() not in (3, 4):
        raise InputError(
            f"summarize expects maps of shape (C, H, W) or (N, C, H, W), got {tuple(x.shape)}; "
            f"lay out other activations first with layerscope.render.to_maps(tensor).maps."
        )
    check_summary(mode)
    if x.shape[-3] == 0:
        raise InputError(f"Cannot summarize maps with no channels (shape {tuple(x.shape)}).")
    x = x.to(torch.float32)
    if mode == "mean":
        return x.mean(dim=-3)
    if mode == "max":
        return x.amax(dim=-3)
    return torch.linalg.vector_norm(x, ord=2, dim=-3)


def _panel_size(rows: int, cols: int, height: int, max_aspect: float) -> tuple[int, int]:
    width = max(1, round(cols * height / rows))
    return height, min(width, max(1, round(height * max_aspect)))


def summary_panel(
    maps: torch.Tensor,
    *,
    summary: str = "mean",
    height: int = 64,
    resize: str = "nearest",
    cmap: Optional[str] = None,
    normalize: str = "channel",
    max_aspect: float = 4.0,
) -> np.ndarray:
    """``(C, H, W)`` maps -> an (height, W', 3) uint8 image of their summary, scaled on its own.

    ``normalize`` is a mode of :func:`~layerscope.render.quantize` (``"channel"`` min-max,
    ``"robust"`` percentiles, ``"signed"`` zero-centred with a diverging colormap).
    The width keeps the map's aspect ratio, capped at ``max_aspect * height`` (1-D strips and vectors).
    """
    if not isinstance(height, int) or height < 1:
        raise InputError(f"height must be a positive number of pixels, got {height!r}.")
    flat = summarize(maps, summary)
    size = _panel_size(flat.shape[0], flat.shape[1], height, max_aspect)
    return colored_map(flat, size, resize=resize, normalize=normalize, cmap=cmap)


def _label(name: str, shape: Sequence[int]) -> list[str]:
    return [name, "x".join(str(d) for d in shape[1:]) or "scalar"]


def _column(panel: np.ndarray, lines: list[str], min_width: int, background: int) -> np.ndarray:
    width = max(panel.shape[1], min_width)
    band = text_band(lines, width, background=background) if lines else np.zeros((0, width, 3), np.uint8)
    body = np.full((panel.shape[0], width, 3), background, np.uint8)
    left = (width - panel.shape[1]) // 2
    body[:, left : left + panel.shape[1]] = panel
    return np.concatenate([band, body], axis=0)


@dataclass(frozen=True)
class StripOptions(Options):
    """How :func:`progression_strip` draws: each panel's ``summary`` over channels, ``height`` in rows,
    ``resize`` (``nearest`` keeps cells as blocks, ``bilinear`` smooths), ``cmap``, ``normalize`` (see
    :func:`summary_panel`), ``labels`` (a band naming each layer, columns at least ``label_width`` wide),
    ``gap`` pixels between panels."""

    summary: str = "mean"
    height: int = 64
    resize: str = "nearest"
    cmap: Optional[str] = None
    normalize: str = "channel"
    labels: bool = True
    gap: int = 4
    label_width: int = 96


def progression_strip(
    acts: Mapping,
    *,
    index: int = 0,
    layers: Optional[Sequence[str]] = None,
    input_size: Any = None,
    layouts: Optional[Mapping[str, str]] = None,
    options: Optional[StripOptions] = None,
    **fields: Any,
) -> np.ndarray:
    """Shallow-to-deep strip for input ``index``: one summary panel per layer, left to right.

    >>> import torch
    >>> strip = progression_strip({"a": torch.rand(1, 4, 8, 8), "b": torch.rand(1, 8, 4, 4)}, height=16)
    >>> strip.shape, strip.dtype.name
    ((42, 196, 3), 'uint8')

    ``acts`` is an :class:`~layerscope.capturing.Activations` (its ``info`` gives module types
    for layout inference) or any name -> tensor mapping, in execution order. Each panel is
    the layer's ``summary`` over channels (see :func:`summarize`), scaled on its own (``normalize``,
    see :func:`summary_panel`) and resized to ``height`` rows: ``resize="nearest"`` (default) keeps each activation cell
    a visible block, ``"bilinear"`` smooths. With ``labels`` a band above each panel names the
    layer and its captured shape (without batch), in columns at least ``label_width`` wide.
    ``layouts`` maps layer names to explicit layouts (see :func:`~layerscope.render.to_maps`).
    How it is drawn: ``options`` (:class:`StripOptions`), any field of which may be given as a keyword.
    """
    o = StripOptions.of(options, **fields)
    summary, height, resize, cmap, normalize = o.summary, o.height, o.resize, o.cmap, o.normalize
    labels, gap, label_width = o.labels, o.gap, o.label_width
    names = select_names(acts, layers)
    if not names:
        raise InputError("Nothing to show: the activations are empty; capture at least one layer.")
    if not isinstance(gap, int) or gap < 0:
        raise InputError(f"gap must be a number of pixels >= 0, got {gap!r}.")
    columns = []
    for name in names:
        laid = layer_maps(acts, name, layouts=layouts, input_size=input_size)
        batch = laid.maps.shape[0]
        if not -batch <= index < batch:
            raise InputError(f"index={index} is out of range for layer {name!r} with batch size {batch}.")
        panel = summary_panel(
            laid.maps[index], summary=summary, height=height, resize=resize, cmap=cmap, normalize=normalize
        )
        lines = _label(name, laid.source_shape) if labels else []
        columns.append(_column(panel, lines, label_width if labels else 0, background=255))
    return _hstack(columns, gap, background=255)


def _hstack(columns: list[np.ndarray], gap: int, background: int) -> np.ndarray:
    height = max(c.shape[0] for c in columns)
    width = sum(c.shape[1] for c in columns) + gap * (len(columns) - 1)
    out = np.full((height, width, 3), background, np.uint8)
    left = 0
    for column in columns:
        out[: column.shape[0], left : left + column.shape[1]] = column
        left += column.shape[1] + gap
    return out
