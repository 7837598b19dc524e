"""Render activations as images: normalization, colormaps, channel grids, fast PNG files.

>>> import torch
>>> grid = render_grid(torch.randn(8, 5, 5), normalize="robust", order="std", max_channels=4)
>>> grid.meta.normalization.mode, len(grid.meta.channels), grid.rgb.dtype.name
('robust', 4, 'uint8')
>>> options = RenderOptions(normalize="layer", labels=True)  # validated once, reusable, hashable
>>> render_grid(torch.randn(8, 5, 5), options, cmap="gray").meta.cmap  # keywords replace fields
'gray'
"""

from .channels import ORDERS, pick_channels
from .colormap import MARKER_RGB, palette, resolve_cmap
from .grid import ChannelGrid, GridMeta, channel_grid, render_grid, render_grids
from .normalize import MODES, Normalization, quantize, shared_range, value_ranges
from .options import RenderOptions
from .png import encode_png, save_png

__all__ = [
    "ChannelGrid",
    "GridMeta",
    "MARKER_RGB",
    "MODES",
    "Normalization",
    "ORDERS",
    "RenderOptions",
    "channel_grid",
    "encode_png",
    "palette",
    "pick_channels",
    "quantize",
    "render_grid",
    "render_grids",
    "resolve_cmap",
    "save_png",
    "shared_range",
    "value_ranges",
]

# --- views (render-views helper) ---
from .figure import FigureOptions, channel_figure, save_figure
from ..core.layout import LAYOUTS, Maps, layer_maps, to_maps
from .overlays import overlay
from .pca import PCABasis, fit_pca_basis, pca_rgb
from .viewables import ActivationsView, ImageTable, ImageView
from .summary import StripOptions, progression_strip, summarize

__all__ += [
    "LAYOUTS", "Maps", "to_maps", "layer_maps", "summarize", "progression_strip", "overlay",
    "PCABasis", "fit_pca_basis", "pca_rgb", "channel_figure", "save_figure", "FigureOptions", "StripOptions",
    "ActivationsView", "ImageView", "ImageTable",
]
# --- end views ---
