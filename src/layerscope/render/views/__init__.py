"""The views of a layer: one small module per view over :class:`~.base.View`, in one registry :data:`VIEWS`.

>>> check_views("grid,mean"), check_views(["overlay"])
(('grid', 'mean'), ('overlay',))
>>> list(VIEWS)[:4]
['grid', 'mean', 'overlay', 'pca']
>>> import torch
>>> picture = layer_view("mean", torch.rand(4, 7, 7), title="blocks.6 | random init")
>>> picture.shape[1] >= MIN_SIZE, picture.dtype.name
(True, 'uint8')

``grid``: channel grids; ``mean``: the layer's mean over channels; ``overlay``: that mean,
blended over the image the model saw (after its resize and crop); ``pca``: the first three
principal components of the channels as RGB; ``progression``: one strip per input, the mean map
of every layer from shallow to deep; ``figure``: a matplotlib figure of the first 16 channels
with titles and colorbars (for papers); ``importance``: the Grad-CAM style heat map of the most
important channels over the image the model saw (see :mod:`layerscope.explain.ranking`); ``attention``:
the CLS token's attention (mean over heads) in the layer's attention module over that image, ``rollout``:
the attention rollout up to that layer (ViT-style models, see :mod:`layerscope.explain.attention`).

A new view is one new module here (or anywhere: defining a :class:`View` subclass with a
``name`` registers it). Consumers dispatch on the view's own description: ``VIEWS[name].per``
(``"layer"`` or ``"input"``), ``.needs_seen``, ``.needs_importance``, ``.needs_attention``, then
``VIEWS[name].draw(maps, caption=..., seen=..., options=...)`` (RGB uint8) or ``.png(...)`` (bytes),
with ``caption=VIEWS[name].caption(layer_title)``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Optional

import numpy as np
import torch

from ...errors import InputError
from . import figure, grid, importance, mean, overlay, pca, progression  # noqa: F401  (the built-in order)
from .base import VIEWS, View, check_views, register, unregister
from .figure import figure_png
from .pictures import MIN_SIZE, captioned, seen_images

__all__ = ["VIEWS", "LAYER_VIEWS", "MIN_SIZE", "View", "check_views", "register", "unregister", "layer_view",
           "figure_png", "captioned", "seen_images"]

_ORDER = ("grid", "mean", "overlay", "pca", "progression", "figure", "importance")
for _name in _ORDER:  # the built-in views in the order the docs name them, whatever order they were imported in
    VIEWS[_name] = VIEWS.pop(_name)
for _module in pkgutil.iter_modules(__path__):  # any other module of this package is a view too
    if not _module.name.startswith("_") and _module.name not in ("base", "pictures", *_ORDER):
        importlib.import_module(f"{__name__}.{_module.name}")

LAYER_VIEWS = tuple(name for name, view in VIEWS.items()  # the views drawn from a layer's own maps
                    if view.per == "layer" and name != "grid" and not (view.needs_importance or view.needs_attention))


def layer_view(view: str, maps: torch.Tensor, *, title: str = "", seen: Optional[np.ndarray] = None,
               min_size: int = MIN_SIZE) -> np.ndarray:
    """One captioned (H, W, 3) uint8 picture of ``maps`` (C, H, W) for the per-layer ``view`` (mean, overlay, pca ...).

    ``seen`` is the (H, W, 3) uint8 image the model saw, needed by ``overlay`` (the map is upsampled
    bilinearly onto it, so map and image stay aligned). ``title`` is the caption as it is.
    """
    drawn = VIEWS.get(view)
    if drawn is None or drawn.per != "layer" or view == "grid":
        names = [name for name, v in VIEWS.items() if v.per == "layer" and name != "grid"]
        raise InputError(f"layer_view draws {', '.join(names)}, not {view!r}.")
    return drawn.draw(maps, caption=title, seen=seen, min_size=min_size)
