"""One layer as the page shows it: a channel grid per input on a shared scale, mean maps, flagged channels.

The grids are palette PNGs (``render_grids``) whose levels map back to values: every shown channel
has one display range shared by all inputs (``lo[k]``, ``hi[k]``), so the page reads the value
under the cursor as ``lo + level / 251 * (hi - lo)`` from the very bytes it displays, and inputs
side by side are comparable.

>>> import torch
>>> view = layer_view("conv", torch.arange(2 * 3 * 4 * 4.0).reshape(2, 3, 4, 4), max_channels=2)
>>> view.channels, view.total_channels, len(view.grids), view.geometry["cols"] * view.geometry["rows"] >= 2
((0, 1), 3, 2, True)
>>> [round(v, 3) for v in view.lo], [round(v, 3) for v in view.hi]  # channel 0 over both inputs: 0..63
([0.0, 16.0], [63.0, 79.0])
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ..core.layout import Maps
from ..errors import InputError
from ..render.channels import pick_channels, selection_text
from ..render.colormap import LEVELS, palette, resolve_cmap
from ..render.font import GLYPH_HEIGHT, GLYPH_WIDTH
from ..render.grid import render_grids
from ..render.normalize import Normalization, display_ranges, mode_info, quantize
from ..render.strips import colorbar_strip
from ..render.options import RenderOptions
from ..render.png import encode_png
from ..render.views import VIEWS as RENDER_VIEWS
from ..run.maps import LayerMaps

__all__ = ["LayerView", "layer_view", "with_pictures", "REPORT_OPTIONS", "FLAG_KINDS", "OWN_VIEWS", "Display",
           "REPORT_DISPLAY"]

OWN_VIEWS = ("grid", "mean")  # the pictures the report and the explorer draw their own way (interactive grids, shared-scale means)

REPORT_OPTIONS = RenderOptions(max_channels=64, padding=1)  # the report's: the first 64 channels per layer
FLAG_KINDS = ("dead", "uniform", "noisy", "saturated", "nonfinite")  # drawn on the grids, in this order
STRIP_HEIGHT = 8  # rows a 1-pixel-high map (a vector, a Conv1d channel) is stretched to


@dataclass(frozen=True)
class Display:
    """How big a grid is drawn. ``width``: pixels a grid is about as wide as on the page; maps whose tiles would be
    larger are averaged over ``k x k`` blocks (the smallest ``k`` that fits, preferring one that divides the map) so a
    grid holds no more pixels than it is shown with. ``level_step``: the grids use every ``level_step``-th of the
    252 colour levels (2: 126 levels, a value read back to 1/251 of its channel's range; noise-like maps compress by
    about a bit per pixel less). ``Display()``: full resolution, every level (the explorer's).

    >>> Display(320).pool(112, 112, 64), Display(320).pool(28, 28, 64), Display(320).pool(112, 112, 4)
    (4, 1, 1)
    """

    width: Optional[int] = None
    level_step: int = 1

    def pool(self, height: int, width: int, count: int) -> int:
        """The block size ``k`` for ``count`` maps of ``height x width`` (1: as they are)."""
        if self.width is None or height <= 1:
            return 1
        cap = max(8, self.width // max(1, math.ceil(math.sqrt(count))))  # tiles per row of a square-ish grid
        need = -(-max(height, width) // cap)
        if need <= 1:
            return 1
        exact = [k for k in range(need, 2 * need + 1) if height % k == 0 and width % k == 0]
        return exact[0] if exact else need


REPORT_DISPLAY = Display(width=320, level_step=2)  # a grid cell of the report is 240-330 CSS pixels wide


@dataclass(frozen=True)
class LayerView:
    """What the page needs of one layer. ``grids[i]`` / ``means[i]`` are PNG bytes for input ``i``.

    ``channels`` are the shown channel indices (display order), ``lo``/``hi`` their display ranges
    (shared by the inputs), ``geometry`` where each tile sits in a grid image; ``error`` replaces
    the pictures when the layer cannot be laid out as maps.
    """

    name: str
    module_type: str
    shape: tuple[int, ...]
    layout: str = ""
    notes: tuple[str, ...] = ()
    channels: tuple[int, ...] = ()
    total_channels: int = 0
    lo: tuple[float, ...] = ()
    hi: tuple[float, ...] = ()
    mode: str = "channel"
    cmap: str = "viridis"
    grids: tuple[bytes, ...] = ()
    means: tuple[bytes, ...] = ()
    mean_range: tuple[float, float] = (0.0, 0.0)
    geometry: dict = field(default_factory=dict)
    flagged: dict = field(default_factory=dict)  # kind -> shown positions (index into channels)
    verdict: Optional[str] = None
    reason: str = ""
    hidden_flags: int = 0  # flagged channels that are not among the shown ones
    error: Optional[str] = None
    pictures: tuple = ()  # (view name, PNG bytes or None per input): the registry's picture views asked for
    scale: bytes = b""  # the colour scale (a colorbar PNG with the value range or what the ends mean)
    flat: dict = field(default_factory=dict)  # shown position -> value: a round-off range, drawn flat on the layer scale
    selection: str = ""  # which channels are shown and why ("64 of 240 channels, ranked by mean activation")
    level_step: int = 1  # the grids use levels 0, step, 2 * step ... (Display.level_step)
    prefix: tuple[bytes, ...] = ()  # per input: a token layer's prefix tokens (CLS, registers ...), a strip each
    prefix_names: tuple[str, ...] = ()  # what each prefix strip is, top to bottom

    @property
    def shape_text(self) -> str:
        return "x".join(str(s) for s in self.shape) or "scalar"

    def flag_boxes(self) -> list[tuple[str, int, int, int, int]]:
        """``(kind, x, y, width, height)`` around each flagged tile, in grid-image pixels."""
        g = self.geometry
        return [(kind, g["left"] + (p % g["cols"]) * g["cell_w"], g["top"] + (p // g["cols"]) * g["cell_h"],
                 g["map_w"], g["map_h"]) for kind, positions in self.flagged.items() for p in positions]

    def data(self) -> dict[str, Any]:
        """The JSON the page script reads (numbers and names only; pictures stay in the ``<img>``)."""
        return {
            "name": self.name, "channels": list(self.channels), "total": self.total_channels,
            "lo": [_finite(v) for v in self.lo], "hi": [_finite(v) for v in self.hi], "mode": self.mode,
            "cmap": self.cmap, "geometry": self.geometry, "levels": LEVELS,
            "flagged": {kind: list(pos) for kind, pos in self.flagged.items()},
            "flat": {str(pos): _finite(v) for pos, v in self.flat.items()}, "selection": self.selection,
            "step": self.level_step,
        }


def _finite(value: float) -> Optional[float]:
    return float(value) if math.isfinite(value) else None


def layer_view(
    name: str,
    tensor: Union[torch.Tensor, Maps],
    *,
    module_type: str = "",
    input_size: Any = None,
    layout: Optional[str] = None,
    options: Optional[RenderOptions] = None,
    diagnosis: Any = None,
    display: Optional[Display] = None,
    **fields: Any,
) -> LayerView:
    """Render ``tensor`` (the layer's output for N inputs, or its :class:`~layerscope.core.layout.Maps` made by a
    run's :class:`~layerscope.run.LayerMaps`) the way the report and the explorer show it. A tensor is read
    with ``layout`` (or its inferred one) by a :class:`~layerscope.run.LayerMaps`: one that is not maps
    (an attention internal, an unknown layout) gives a view whose ``error`` says why.

    ``options`` (:data:`REPORT_OPTIONS` when None; keywords replace fields): ``normalize`` is
    applied over all inputs at once (``channel``: a range per channel shared by the inputs;
    ``layer``, ``robust``, ``signed``... likewise; ``global`` means ``layer`` unless a
    ``value_range`` is given), ``order`` and ``max_channels`` pick the same channels for every
    input (ranked on the mean over inputs), ``cmap`` colours them. ``diagnosis``: the layer's
    :class:`~layerscope.diagnosis.LayerDiagnosis` (its verdict and flagged channels are shown). ``display``
    (a :class:`Display`; None: full resolution, every level): maps larger than the grid is shown are averaged over
    blocks first (the geometry's ``pool``), and everything after (ranges, grids, means) reads the averaged maps.
    """
    options = RenderOptions.of(REPORT_OPTIONS if options is None else options, **fields)
    shape = tensor.source_shape if isinstance(tensor, Maps) else tuple(tensor.shape)
    base = {"name": name, "module_type": module_type, "shape": tuple(shape[1:])}
    verdict = _verdict(diagnosis)
    maps = tensor if isinstance(tensor, Maps) else None
    if maps is None:
        reader = LayerMaps({name: layout} if layout else None)
        maps = reader.maps(name, tensor.detach(), {"module_type": module_type}, input_size)
        if maps is None:
            return LayerView(**base, **verdict, error=reader.skipped[name])
    display = display or Display()
    values = maps.maps.float()
    if values.shape[-2] == 1:
        values = values.expand(-1, -1, STRIP_HEIGHT, -1)
    ranked = values[0] if options.order == "index" else values.mean(0)  # ranked on the mean over the inputs
    index = pick_channels(ranked, options.order, options.max_channels or None).cpu()  # on the full maps
    pool = display.pool(int(maps.maps.shape[-2]), int(values.shape[-1]), len(index))
    if pool > 1:  # every channel: the layer modes read the whole layer
        values = torch.nn.functional.avg_pool2d(values, pool, ceil_mode=True)
    shown = values[:, index]
    lo, hi, mode, flat = _ranges(values, index, options)
    cmap = resolve_cmap(options.cmap, signed=mode_info(mode).signed)
    grids = render_grids(_unit(shown, lo, hi, display.level_step), options.replace(
        normalize="global", value_range=(0.0, 1.0), percentiles=None, max_channels=0, order="index",
        caption=False, colorbar=False, cmap=cmap), layer=name, numbers=index.tolist())
    means, mean_range = _means(values)
    channels = tuple(int(i) for i in index)
    flagged, hidden = _flags(diagnosis, channels)
    return LayerView(
        **base, **verdict, layout=maps.layout, notes=tuple(maps.notes), channels=channels, flat=flat,
        selection=selection_text(len(channels), int(maps.maps.shape[1]), options.order),
        total_channels=int(values.shape[1]), lo=tuple(lo.tolist()), hi=tuple(hi.tolist()), mode=mode, cmap=cmap,
        grids=tuple(encode_png(g.indices, palette=g.palette, paeth=True) for g in grids), scale=_scale(lo, hi, mode, cmap, options.percentiles), means=means,
        mean_range=mean_range, geometry=_geometry(grids[0], channels, options.padding, pool),
        flagged=flagged, hidden_flags=hidden, level_step=display.level_step, **_prefix(maps, name, options),
    )


def _prefix(maps: Maps, name: str, options: RenderOptions) -> dict[str, Any]:
    """A token layer's prefix tokens (CLS, distillation, registers) as ``show`` draws them beside its grid: one
    strip per token, top to bottom (:meth:`~layerscope.core.layout.Maps.prefix_maps`), one PNG per input.

    >>> from layerscope.core.layout import TokenGeometry, to_maps
    >>> laid = to_maps(torch.randn(2, 5, 8), tokens=TokenGeometry(1, (2, 2), ("CLS",), "example"))
    >>> made = _prefix(laid, "block", REPORT_OPTIONS)
    >>> made["prefix_names"], len(made["prefix"]), made["prefix"][0][:4] == b"\\x89PNG"
    (('CLS',), 2, True)
    """
    strips = maps.prefix_maps()
    if strips is None:
        return {}
    grids = render_grids(strips.float().expand(-1, -1, STRIP_HEIGHT, -1), options.replace(
        channels=None, max_channels=0, order="index", columns=1, caption=False, colorbar=False), layer=name)
    return {"prefix": tuple(g.png_bytes() for g in grids), "prefix_names": tuple(maps.prefix_names)}


def with_pictures(view: LayerView, maps: Optional[torch.Tensor], names: Sequence[str],
                  seen: Optional[Sequence[Optional[np.ndarray]]],
                  attention: Optional[Mapping[str, torch.Tensor]] = None) -> LayerView:
    """``view`` with the pictures of the registry's views ``names`` (:data:`layerscope.render.views.VIEWS`; the
    report's own parts are left out) drawn from ``maps`` (N, C, H, W) for each input: the pictures
    :func:`layerscope.show` draws. ``seen``: the image each input shows (a view that needs it is left out where
    there is none). ``attention``: the layer's attention maps (N, 1, h, w) per view that draws them
    (:func:`layerscope.explain.attention.layer_attention`; such a view is left out where there are none). The
    report and the explorer both call this."""
    names = [name for name in names if name in RENDER_VIEWS and name not in OWN_VIEWS]
    if maps is None or view.error is not None or not names:
        return view
    pictures = []
    for name in names:
        kind = RENDER_VIEWS[name]
        drawn = (attention or {}).get(name) if kind.needs_attention else maps
        if drawn is None:
            continue
        shown = [seen[i] if seen is not None and i < len(seen) else None for i in range(len(maps))]
        pictures.append((name, tuple(None if kind.needs_seen and shown[i] is None
                                     else kind.png(drawn[i], caption=kind.caption(view.name), seen=shown[i])
                                     for i in range(len(maps)))))
    return dataclasses.replace(view, pictures=tuple(pictures))


def _verdict(diagnosis: Any) -> dict[str, Any]:
    if diagnosis is None:
        return {}
    return {"verdict": diagnosis.verdict, "reason": diagnosis.reason}


def _ranges(maps: torch.Tensor, index: torch.Tensor, options: RenderOptions
            ) -> tuple[torch.Tensor, torch.Tensor, str, dict[int, float]]:
    """Per shown channel (``index`` of ``maps``) ``(lo, hi)`` over every input (float64), the mode they follow, and
    the shown positions drawn flat (round-off range, :func:`~layerscope.render.normalize.display_ranges`) with their
    values."""
    mode = options.normalize
    if mode == "global":
        if options.value_range is None:
            mode = "layer"
        else:
            pair = options.range_for(None) if not isinstance(options.value_range, Mapping) else None
            if pair is None:
                raise InputError("the report takes one value_range (low, high) for normalize='global', not per layer.")
            count = len(index)
            return (torch.full((count,), pair[0], dtype=torch.float64),
                    torch.full((count,), pair[1], dtype=torch.float64), "global", {})
    pooled = maps.transpose(0, 1).reshape(1, maps.shape[1], -1, maps.shape[-1])  # (1, C, N*H, W): inputs pooled
    ranges = display_ranges(pooled, mode, percentiles=options.percentiles, index=index.to(pooled.device)[None])
    flat = {}
    if ranges.flat is not None:
        flat = {int(k): float(ranges.values[0, k]) for k in torch.nonzero(ranges.flat[0]).flatten().tolist()}
    return ranges.lo[0].double().cpu(), ranges.hi[0].double().cpu(), mode, flat


def _unit(maps: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, step: int = 1) -> torch.Tensor:
    """``maps`` scaled so that each channel's ``[lo, hi]`` is ``[0, 1]`` (flat channels: 0); NaN stays NaN. With
    ``step > 1`` the values are snapped to the levels ``0, step, 2 * step ...`` (``k * step / 251``). In numpy: a few
    passes over display-sized maps, where torch's per-operation cost (threads) would dominate."""
    x = maps.detach().cpu().numpy()
    low = lo.numpy().astype(np.float32)[None, :, None, None]
    span = (hi - lo).numpy().astype(np.float32)[None, :, None, None]
    with np.errstate(all="ignore"):  # NaN and infinite values stay non-finite, marked when quantized
        unit = (x - low) / np.where(span > 0, span, np.float32(1))
        unit = np.where(span > 0, unit, unit * np.float32(0))  # flat: 0, NaN where the map is not finite
        if step > 1:
            top = LEVELS - 1
            np.round(unit * np.float32(top / step), out=unit)
            unit *= step
            np.clip(unit, 0, top // step * step, out=unit)
            unit /= np.float32(top)
    return torch.from_numpy(unit)


def _scale(lo: torch.Tensor, hi: torch.Tensor, mode: str, cmap: str, percentiles: Any) -> bytes:
    """The colorbar of the grids: the shared range's values, or what its ends mean per channel."""
    norm = Normalization(mode, tuple(lo.tolist()), tuple(hi.tolist()), percentiles=percentiles)
    return encode_png(palette(cmap)[colorbar_strip(norm, 160)])


def _means(values: torch.Tensor) -> tuple[tuple[bytes, ...], tuple[float, float]]:
    """Mean over channels per input, coloured on one range shared by the inputs (palette PNGs)."""
    means = values.mean(1)
    finite = means[torch.isfinite(means)]
    pair = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 0.0)
    levels, _ = quantize(means[:, None], "global", value_range=pair)
    table = palette(resolve_cmap(None))
    return tuple(_smaller_png(level[0].cpu().numpy(), table) for level in levels), pair


def _smaller_png(levels: np.ndarray, table: np.ndarray) -> bytes:
    """A palette PNG, or the RGB one where that is smaller (a small map: the 768-byte palette outweighs it)."""
    indexed = encode_png(levels, palette=table)
    if levels.size * 3 > len(indexed):
        return indexed
    rgb = encode_png(table[levels])
    return rgb if len(rgb) < len(indexed) else indexed


def _flags(diagnosis: Any, channels: Sequence[int]) -> tuple[dict[str, list[int]], int]:
    """Flagged channels as positions among the shown ones, and how many flagged channels are not shown."""
    if diagnosis is None:
        return {}, 0
    position = {channel: k for k, channel in enumerate(channels)}
    flagged, hidden = {}, set()
    for kind in FLAG_KINDS:
        indices = diagnosis.flagged.get(kind) or []
        shown = [position[i] for i in indices if i in position]
        hidden.update(i for i in indices if i not in position)
        if shown:
            flagged[kind] = shown
    return flagged, len(hidden)


def _geometry(grid: Any, channels: Sequence[int], padding: int, pool: int = 1) -> dict[str, int]:
    """Where tile ``k`` sits in a grid image: column ``k % cols``, row ``k // cols``, cells of
    ``cell_w x cell_h`` pixels, the (scaled) map of ``map_w x map_h`` at ``(left, top)`` inside its cell; each of its
    pixels is the mean of a ``pool x pool`` block of the layer's map."""
    rows, cols = grid.meta.layout
    map_h, map_w = (s * grid.meta.scale for s in grid.meta.map_size)
    band = GLYPH_HEIGHT + 1 if grid.meta.labels else 0  # the channel numbers above each map
    label_w = len(str(max(channels, default=0))) * GLYPH_WIDTH if grid.meta.labels else 0
    cell_w, cell_h = padding + max(map_w, label_w), padding + band + map_h
    height, width = grid.indices.shape
    if (width, height) != (cols * cell_w + padding, rows * cell_h + padding):  # pragma: no cover - a render change
        raise RuntimeError(f"unexpected grid geometry {width}x{height} for {rows}x{cols} tiles of {map_w}x{map_h}")
    return {"width": width, "height": height, "rows": rows, "cols": cols, "count": len(channels), "cell_w": cell_w,
            "cell_h": cell_h, "left": padding, "top": padding + band, "map_w": map_w, "map_h": map_h, "scale": grid.meta.scale,
            "pool": pool}
