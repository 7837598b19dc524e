"""The views ``layerscope show`` draws besides channel grids, each a captioned picture of one layer and one input.

>>> check_views("grid,mean"), check_views(["overlay"])
(('grid', 'mean'), ('overlay',))
>>> import torch
>>> picture = layer_view("mean", torch.rand(4, 7, 7), title="blocks.6 | random init")
>>> picture.shape[1] >= MIN_SIZE, picture.dtype.name
(True, 'uint8')

``mean``: the layer's mean over channels; ``overlay``: that mean, blended over the image the model
saw (after its resize and crop); ``pca``: the first three principal components of the channels as
RGB; ``figure``: a matplotlib figure of the first 16 channels with titles and colorbars (for papers);
``progression``: one strip per input, the mean map of every layer from shallow to deep;
``importance``: the Grad-CAM style heat map of the most important channels over the image the model saw
(drawn by :func:`layerscope.show`, see :mod:`layerscope.explain.ranking`).
"""

from __future__ import annotations

import io
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch

from ..errors import InputError, did_you_mean
from ._viewkit import resize_map, text_band

__all__ = ["VIEWS", "LAYER_VIEWS", "MIN_SIZE", "check_views", "layer_view", "figure_png", "captioned", "seen_images"]

VIEWS = ("grid", "mean", "overlay", "pca", "progression", "figure", "importance")
LAYER_VIEWS = ("mean", "overlay", "pca", "figure")  # one picture per (input, layer); grid has its own renderer
MIN_SIZE = 160  # pixels: the shorter side of a single-map view is at least this (nearest upscale)


def check_views(views: Union[str, Sequence[str], None]) -> tuple[str, ...]:
    """A tuple of known view names from ``"grid,mean"`` or a list; unknown names raise with did-you-mean."""
    if views is None:
        return ("grid",)
    items = views.split(",") if isinstance(views, str) else list(views)
    names = tuple(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))
    for name in names:
        if name not in VIEWS:
            raise InputError(f"Unknown view {name!r}.{did_you_mean(name, VIEWS)} Views: {', '.join(VIEWS)} "
                             f"(e.g. --view grid,overlay).")
    if not names:
        raise InputError(f"No view given; choose from {', '.join(VIEWS)}.")
    return names


def captioned(picture: np.ndarray, title: str) -> np.ndarray:
    """``picture`` (H, W, 3) under a one-line white caption band, widened so that the caption fits."""
    from .font import GLYPH_WIDTH

    width = max(picture.shape[1], len(title) * GLYPH_WIDTH + 8)
    band = text_band([title], width)
    body = np.full((picture.shape[0], width, 3), 255, np.uint8)
    left = (width - picture.shape[1]) // 2
    body[:, left : left + picture.shape[1]] = picture
    return np.concatenate([band, body], axis=0)


def _enlarged(values: torch.Tensor, min_size: int) -> tuple[int, int]:
    h, w = values.shape[-2:]
    factor = max(1, -(-min_size // max(min(h, w), 1)))
    return h * factor, w * factor


def layer_view(view: str, maps: torch.Tensor, *, title: str = "", seen: Optional[np.ndarray] = None,
               min_size: int = MIN_SIZE) -> np.ndarray:
    """One captioned (H, W, 3) uint8 picture of ``maps`` (C, H, W) for ``view`` in mean / overlay / pca.

    ``seen`` is the (H, W, 3) uint8 image the model saw, needed by ``overlay`` (the map is upsampled
    bilinearly onto it, so map and image stay aligned).
    """
    from ._viewkit import colored_map
    from .overlays import overlay
    from .pca import pca_rgb
    from .summary import summarize

    if view == "mean":
        mean = summarize(maps, "mean")
        picture = colored_map(mean, _enlarged(mean, min_size), resize="nearest")
    elif view == "overlay":
        if seen is None:
            raise InputError("The overlay view needs the image the model saw; tensors given without images have none.")
        picture = overlay(seen, summarize(maps, "mean"), image_weight=0.45)
        if min(picture.shape[:2]) < min_size:
            picture = np.asarray(_resized(picture, _enlarged(torch.empty(picture.shape[:2]), min_size)))
    elif view == "pca":
        rgb = torch.from_numpy(pca_rgb(maps)).permute(2, 0, 1).float()
        size = _enlarged(rgb, min_size)
        picture = torch.stack([resize_map(c, size, "nearest") for c in rgb]).permute(1, 2, 0).round().byte().numpy()
    else:
        raise InputError(f"layer_view draws {', '.join(LAYER_VIEWS[:3])}, not {view!r}.")
    return captioned(picture, title) if title else picture


def _resized(picture: np.ndarray, size: tuple[int, int]) -> Any:
    from PIL import Image

    return Image.fromarray(picture).resize((size[1], size[0]), Image.Resampling.NEAREST)


def figure_png(maps: torch.Tensor, *, title: str, max_channels: int = 16) -> bytes:
    """The tutorial-style matplotlib figure of the first ``max_channels`` channels, as PNG bytes."""
    from .figure import channel_figure

    fig = channel_figure(maps, title=title, max_channels=max_channels, panel_inches=1.3, dpi=100)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def seen_images(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> list[np.ndarray]:
    """The (H, W, 3) uint8 images a normalized batch (N, C, H, W) shows: normalization undone, clipped to [0, 1].

    >>> seen_images(torch.zeros(1, 1, 2, 2), (0.5,), (0.5,))[0][0, 0].tolist()
    [128, 128, 128]
    """
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    pixels = (batch.detach().float().cpu() * s + m).clamp(0, 1).mul(255).round().byte()
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    return [p.permute(1, 2, 0).numpy().copy() for p in pixels[:, :3]]
