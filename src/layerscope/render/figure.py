"""A labelled matplotlib figure of a layer's channels for papers, and an atomic ``save_figure``.

Built on ``matplotlib.figure.Figure`` directly: no pyplot, no global state, nothing shown.

>>> import torch
>>> fig = channel_figure(torch.rand(6, 8, 8), layer="features.0", normalize="layer")
>>> [ax.get_title() for ax in fig.axes[:3]]
['ch 0', 'ch 1', 'ch 2']
"""

from __future__ import annotations

from dataclasses import dataclass

import io
import math
from pathlib import Path
from typing import Any, Optional, Sequence

from ..core.files import write_atomic
from ..errors import InputError
from ..core.options import Options
from ._viewkit import as_tensor
from .colormap import resolve_cmap
from .normalize import format_value, negligible

__all__ = ["FIGURE_NORMALIZE", "FIGURE_FORMATS", "channel_figure", "save_figure"]

FIGURE_NORMALIZE = ("channel", "layer")
FIGURE_FORMATS = ("png", "pdf", "svg")


def _channels(count: int, channels: Optional[Sequence[int]], max_channels: Optional[int]) -> list[int]:
    chosen = list(range(count)) if channels is None else [int(c) for c in channels]
    bad = [c for c in chosen if not 0 <= c < count]
    if bad:
        raise InputError(f"channels {bad} are out of range for a layer with {count} channels; use 0..{count - 1}.")
    if max_channels is not None:
        chosen = chosen[: max(int(max_channels), 0)]
    if not chosen:
        raise InputError("No channels to draw; pass channels=[...] or a max_channels >= 1.")
    return chosen


@dataclass(frozen=True)
class FigureOptions(Options):
    """How :func:`channel_figure` draws: which ``channels`` (at most ``max_channels``), ``normalize``
    (``channel`` or ``layer``), a fixed ``value_range``, ``cmap``, ``cols``, ``colorbar``, the suptitle
    ``title``, ``panel_inches`` per panel and ``dpi``."""

    channels: Optional[Sequence[int]] = None
    max_channels: Optional[int] = 16
    normalize: str = "channel"
    value_range: Optional[tuple[float, float]] = None
    cmap: Optional[str] = "viridis"
    cols: Optional[int] = None
    colorbar: bool = True
    title: Optional[str] = None
    panel_inches: float = 1.6
    dpi: int = 150


def channel_figure(maps: Any, *, layer: Optional[str] = None, options: Optional[FigureOptions] = None,
                   **fields: Any) -> Any:
    """A ``matplotlib.figure.Figure`` with one titled panel per channel of ``maps`` (C, H, W).

    Panels are titled ``ch <index>`` with the channel's real index (``channels`` picks and
    orders them; ``max_channels`` caps the count). ``normalize="channel"`` scales each panel
    to its own range and gives each a small colorbar; ``"layer"`` shares one range and one
    colorbar, in the activation's units; ``value_range=(low, high)`` fixes that shared range.
    The suptitle is ``title`` or the layer name with the shape. Settings: ``options``
    (:class:`FigureOptions`), any field of which may be given as a keyword.
    """
    o = FigureOptions.of(options, **fields)
    channels, max_channels, normalize, value_range, cmap = o.channels, o.max_channels, o.normalize, o.value_range, o.cmap
    cols, colorbar, title, panel_inches, dpi = o.cols, o.colorbar, o.title, o.panel_inches, o.dpi
    from matplotlib.figure import Figure

    x = as_tensor(maps)
    if x.dim() != 3:
        raise InputError(
            f"channel_figure expects maps of shape (C, H, W), got {tuple(x.shape)}; pass maps[i] of one input."
        )
    if normalize not in FIGURE_NORMALIZE:
        raise InputError(f"Unknown normalize {normalize!r} for a figure; use one of {', '.join(FIGURE_NORMALIZE)}.")
    chosen = _channels(x.shape[0], channels, max_channels)
    data = x[chosen].to("cpu").float().numpy()
    shared = normalize == "layer" or value_range is not None
    if value_range is not None:
        vmin, vmax = float(value_range[0]), float(value_range[1])
        if not vmax > vmin:
            raise InputError(f"value_range must be (low, high) with high > low, got {tuple(value_range)}.")
    elif shared:
        import numpy as np

        finite = data[np.isfinite(data)]
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    flat = _flat_channels(x, chosen) if not shared else {}
    ncols = cols or min(len(chosen), max(1, math.ceil(math.sqrt(len(chosen)))))
    nrows = math.ceil(len(chosen) / ncols)
    fig = Figure(figsize=(ncols * panel_inches + (0.8 if shared and colorbar else 0), nrows * panel_inches + 0.5),
                 dpi=dpi, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    cmap_name = resolve_cmap(cmap)
    image = None
    for slot, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if slot >= len(chosen):
            ax.set_axis_off()
            continue
        limits = {"vmin": vmin, "vmax": vmax} if shared else {}
        if slot in flat:  # a round-off range: drawn flat on the layer's range, never stretched
            limits = {"vmin": flat[slot][1], "vmax": flat[slot][2]}
        image = ax.imshow(data[slot], cmap=cmap_name, interpolation="nearest", **limits)
        ax.set_title(f"ch {chosen[slot]}" + (f" flat {format_value(flat[slot][0])}" if slot in flat else ""),
                     fontsize=8)
        if colorbar and not shared:
            bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
            bar.ax.tick_params(labelsize=6)
    if colorbar and shared and image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.9, label="activation")
    shape = "x".join(str(d) for d in x.shape)
    fig.suptitle(title if title is not None else f"{layer or 'maps'}  ({shape})", fontsize=10)
    return fig


def _flat_channels(x: Any, chosen: list[int]) -> dict[int, tuple[float, float, float]]:
    """Panel slot -> (value, layer low, layer high) for the chosen channels whose range is round-off
    relative to the layer's (:func:`~layerscope.render.normalize.negligible`): drawn flat, not stretched."""
    import torch

    values = torch.nan_to_num(x.detach().double().flatten(1), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = values.min(1).values, values.max(1).values
    tiny = negligible(lo, hi)
    low, high = float(lo.min()), float(hi.max())
    if not high > low:
        return {}
    return {slot: (float((lo[c] + hi[c]) / 2), low, high) for slot, c in enumerate(chosen) if bool(tiny[c])}


def save_figure(fig: Any, path: Any, *, dpi: Optional[int] = None, overwrite: bool = False) -> Path:
    """Write ``fig`` as PNG, PDF or SVG (from the suffix) atomically: a temp file, then ``os.replace``.

    An existing file is only replaced with ``overwrite=True``. PDF and SVG files carry no
    creation date. Returns the path written.
    """
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise InputError(f"Cannot save a figure as {str(target)!r}: use a .png, .pdf or .svg file name.")
    if not target.parent.is_dir():
        raise InputError(f"The folder {str(target.parent)!r} does not exist; create it first.")
    if target.exists() and not overwrite:
        raise InputError(f"{str(target)!r} already exists; pass overwrite=True to replace it.")
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi or fig.dpi, metadata=metadata)
    return write_atomic(buffer.getvalue(), target, overwrite=overwrite)
