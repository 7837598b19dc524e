"""Channel grids: every map of a layer as a tile, normalized, colour-mapped and tiled in a few tensor ops.

No matplotlib call per channel: the maps are normalized on their device in one batched op
(:func:`~layerscope.render.normalize.quantize`), tiled by reshape/permute into an image of
palette indices, and coloured by indexing a 256-entry palette. Renderers are pure.

>>> import torch
>>> grid = render_grid(torch.randn(6, 4, 4), labels=True)
>>> grid.shape, grid.meta.layout
((27, 29, 3), (2, 4))
>>> channel_grid(torch.randn(6, 4, 4), padding=0).shape  # the RGB array directly
(8, 12, 3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from ..errors import InputError
from .channels import pick_channels, selection_text
from .colormap import BACKGROUND, TEXT, palette
from .font import GLYPH_HEIGHT, GLYPH_WIDTH, number_masks
from .normalize import Normalization, display_ranges, quantize, shared_range
from .options import RenderOptions
from .png import encode_png, save_png
from .strips import add_strips

__all__ = ["ChannelGrid", "GridMeta", "render_grid", "render_grids", "channel_grid"]


@dataclass(frozen=True)
class GridMeta:
    """What a grid shows: channels in display order, normalization, colormap, geometry."""

    normalization: Normalization
    cmap: str
    channels: tuple[int, ...]
    total_channels: int
    order: str
    map_size: tuple[int, int]
    scale: int
    layout: tuple[int, int]  # (rows, columns) of tiles
    layer: Optional[str] = None
    title: Optional[str] = None  # what the caption calls the layer (a display name, "random init"); None: layer
    selection: str = ""  # which channels are shown and why ("64 of 240 channels, ranked by mean activation")
    labels: bool = False  # channel numbers drawn above the tiles (a band of GLYPH_HEIGHT + 1 rows per cell)

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "normalization": self.normalization.to_dict(),
            "cmap": self.cmap,
            "channels": list(self.channels),
            "total_channels": self.total_channels,
            "order": self.order,
            "map_size": list(self.map_size),
            "scale": self.scale,
            "layout": list(self.layout),
            "title": self.title,
            "selection": self.selection,
            "labels": self.labels,
        }


@dataclass(frozen=True, eq=False)
class ChannelGrid:
    """A rendered grid: palette indices ``(H, W)`` uint8 + a ``(256, 3)`` palette + :class:`GridMeta`.

    ``.rgb`` (or ``np.asarray(grid)``) is the ``(H, W, 3)`` image; ``save(path)`` writes a
    palette PNG; in Jupyter the grid displays itself (``_repr_png_``).
    """

    indices: np.ndarray
    palette: np.ndarray
    meta: GridMeta

    @property
    def rgb(self) -> np.ndarray:
        return self.palette[self.indices]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.indices.shape, 3)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.rgb if dtype is None else self.rgb.astype(dtype)

    def to_pil(self):
        from PIL import Image

        image = Image.fromarray(self.indices)  # mode L; putpalette turns it into P
        image.putpalette(self.palette.tobytes())
        return image

    def png_bytes(self) -> bytes:
        return encode_png(self.indices, palette=self.palette)

    def _repr_png_(self) -> bytes:
        return self.png_bytes()

    def save(self, path: Union[str, Path], *, overwrite: bool = True) -> Path:
        """Write a palette PNG atomically; ``overwrite=False`` refuses an existing file."""
        return save_png(self.indices, path, palette=self.palette, overwrite=overwrite)

    def __repr__(self) -> str:
        m = self.meta
        name = f"{m.layer!r}, " if m.layer else ""
        return (
            f"ChannelGrid({name}{len(m.channels)}/{m.total_channels} channels, {m.layout[0]}x{m.layout[1]} "
            f"tiles of {m.map_size[0]}x{m.map_size[1]}, {m.normalization.describe()}, cmap={m.cmap!r}, "
            f"image {self.indices.shape[0]}x{self.indices.shape[1]})"
        )


def _columns(count: int, cell: tuple[int, int], columns: Optional[int]) -> int:
    if columns is not None:  # validated by RenderOptions
        return min(columns, count)
    return max(1, min(count, math.ceil(math.sqrt(count * cell[0] / cell[1]))))


def _split_rows(tiles: np.ndarray, values: np.ndarray, cols: int, fill=None) -> None:
    """Write ``values (n, k, ...)`` into the cell views ``tiles (n, rows, cols, ...)``, row by row."""
    n, k = values.shape[:2]
    full, rest = divmod(k, cols)
    parts = []
    if full:
        parts.append((tiles[:, :full], values[:, : full * cols].reshape(n, full, cols, *values.shape[2:])))
    if rest:
        parts.append((tiles[:, full, :rest], values[:, full * cols :]))
    for dst, src in parts:
        if fill is None:
            dst[...] = src
        else:
            dst[src] = fill  # boolean assignment writes through the strided view


def _tile(levels: np.ndarray, index: np.ndarray, *, labels: bool, padding: int, columns: Optional[int]):
    """Palette-index images ``(N, H, W)`` of tiles ``levels (N, k, h, w)``, optionally labelled.

    The image is allocated once; tiles are copied into a strided ``(rows, cols, cell)`` view of it.
    """
    n, k, h, w = levels.shape
    masks = number_masks(index.reshape(-1)).reshape(n, k, GLYPH_HEIGHT, -1) if labels else None
    band = GLYPH_HEIGHT + 1 if labels else 0
    cell_h, cell_w = padding + band + h, padding + max(w, masks.shape[-1] if labels else 0)
    cols = _columns(k, (cell_h, cell_w), columns)
    rows = math.ceil(k / cols)
    image = np.full((n, rows * cell_h + padding, cols * cell_w + padding), BACKGROUND, dtype=np.uint8)
    cells = image[:, : rows * cell_h, : cols * cell_w].reshape(n, rows, cell_h, cols, cell_w)
    cells = cells.transpose(0, 1, 3, 2, 4)  # (n, rows, cols, cell_h, cell_w), a view of image
    _split_rows(cells[..., padding + band :, padding : padding + w], levels, cols)
    if masks is not None:
        label = cells[..., padding : padding + GLYPH_HEIGHT, padding : padding + masks.shape[-1]]
        _split_rows(label, masks, cols, fill=TEXT)
    return image, (rows, cols)


def _upscale(levels: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return levels
    n, k, h, w = levels.shape
    big = np.broadcast_to(levels[:, :, :, None, :, None], (n, k, h, scale, w, scale))
    return big.reshape(n, k, h * scale, w * scale)


def render_grids(
    maps: torch.Tensor, options: Optional[RenderOptions] = None, *, layer: Optional[str] = None,
    title: Optional[str] = None, numbers: Optional[Any] = None, **fields: Any
) -> list[ChannelGrid]:
    """One :class:`ChannelGrid` per item of ``maps`` ``(N, C, H, W)``, all in one batched pass.

    ``options`` and keywords as for :func:`render_grid`; ``title`` is what the caption calls the
    layer (default: ``layer``). With ``normalize="global"`` and no value range (for ``layer``), the
    batch shares one min-max. ``numbers``: what the labels say of each shown channel (default: its
    index in ``maps``; e.g. the layer's channel numbers when ``maps`` holds some of them).
    """
    if not isinstance(maps, torch.Tensor) or maps.dim() != 4 or maps.numel() == 0:
        shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise InputError(f"maps must be a non-empty tensor (N, C, H, W), got {shape}.")
    options = RenderOptions.of(options, **fields)
    mode, q = options.normalize, options.percentiles
    value_range = options.range_for(layer)
    if mode == "global" and value_range is None:  # the batch is the set of inputs to share a scale
        value_range = shared_range([maps.detach()], "layer")
    maps = maps.detach()
    n, c, h, w = maps.shape
    index = pick_channels(maps, options.order, options.max_channels, options.channels)
    ranges = display_ranges(maps, mode, percentiles=q, value_range=value_range, index=index)  # over every channel
    if options.order != "index" or options.channels is not None:
        maps = maps[torch.arange(n, device=maps.device)[:, None], index]
    elif index.shape[-1] < c:
        maps = maps[:, : index.shape[-1]]  # a view, no copy
    levels, norms = quantize(maps, mode, percentiles=q, value_range=value_range, ranges=ranges)
    index = index.cpu().numpy()
    scale = options.scale_for((h, w))
    shown = index if numbers is None else np.broadcast_to(np.asarray(numbers, dtype=np.int64), index.shape)
    labels = options.labels
    if labels is None:  # where there is room: the widest number fits on its tile
        labels = w * scale >= len(str(int(shown.max()))) * GLYPH_WIDTH
    image, layout = _tile(_upscale(levels.cpu().numpy(), scale), shown, labels=labels,
                          padding=options.padding, columns=options.columns)
    table = palette(options.cmap)
    selection = selection_text(index.shape[-1], c, options.order, explicit=options.channels is not None)
    grids = []
    for item in range(n):
        meta = GridMeta(norms[item], options.cmap, tuple(index[item].tolist()), c, options.order, (h, w), scale,
                        layout, layer, title, selection, bool(labels))
        pixels = add_strips(image[item], meta, caption=options.caption, colorbar=options.colorbar)
        grids.append(ChannelGrid(pixels, table, meta))
    return grids


def render_grid(
    maps: torch.Tensor, options: Optional[RenderOptions] = None, *, layer: Optional[str] = None, **fields: Any
) -> ChannelGrid:
    """Render the maps ``(C, H, W)`` of one input as a grid of tiles; returns a :class:`ChannelGrid`.

    ``options`` is a :class:`~layerscope.render.RenderOptions` (see it for the fields); keywords
    replace its fields (``render_grid(maps, normalize="robust", order="std")`` builds the options
    from keywords alone). ``layer`` names the maps in the caption and the metadata.
    """
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3:
        shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise InputError(
            f"maps must be a tensor (C, H, W), got {shape}; for a batch use render_grids, for a "
            "layer's raw output use layerscope.core.layout.to_maps first."
        )
    return render_grids(maps.unsqueeze(0), options, layer=layer, **fields)[0]


def channel_grid(
    maps: torch.Tensor, options: Optional[RenderOptions] = None, *, layer: Optional[str] = None, **fields: Any
) -> np.ndarray:
    """The grid of :func:`render_grid` as an RGB array ``(H, W, 3)`` uint8."""
    return render_grid(maps, options, layer=layer, **fields).rgb
