"""The base of every view and the registry: a view is one small module with one :class:`View` subclass.

>>> import torch
>>> class Brightest(View):
...     name = "brightest"
...     def draw(self, maps, *, caption="", seen=None, options=None, min_size=MIN_SIZE):
...         return VIEWS["mean"].draw(maps.amax(0, keepdim=True), caption=caption, min_size=min_size)
>>> check_views("grid,brightest")
('grid', 'brightest')
>>> VIEWS["brightest"].draw(torch.rand(4, 5, 5), min_size=10).shape
(10, 10, 3)
>>> unregister("brightest")

Defining the subclass registers it (by its ``name``), so :func:`check_views`,
:func:`layerscope.show` (``views=``), the CLI's ``--view`` and any other consumer see it at once;
a module in :mod:`layerscope.render.views` is imported with the package.

What a view says about itself, for the consumers that dispatch on it:

- ``per``: ``"layer"`` (one picture per (layer, input), file ``<NN>_<layer>.<name>.png``) or
  ``"input"`` (one picture per input over all layers, file ``<name>.png``);
- ``needs_seen``: it draws on the image the model saw (no picture where there is none);
- ``needs_importance``: its ``maps`` are the importance heat map ``(1, H, W)`` of the layer
  (:mod:`layerscope.explain.ranking`), not the layer's maps;
- ``needs_attention``: its ``maps`` are the attention map ``(1, h, w)`` of the attention module in
  or around the layer (:mod:`layerscope.explain.attention`), not the layer's maps.

A view renders from maps (and the optional seen image) to an RGB uint8 array (:meth:`View.draw`)
or PNG bytes (:meth:`View.png`): pure functions, no files.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Sequence, Union

import numpy as np
import torch

from ...core.names import choose
from ...errors import InputError
from ..options import RenderOptions
from ..png import encode_png
from .pictures import MIN_SIZE

__all__ = ["View", "VIEWS", "check_views", "register", "unregister", "PER"]

PER = ("layer", "input")

VIEWS: dict[str, "View"] = {}  # name -> the view, in the order registered (the built-in ones first)


class View:
    """One way to draw a layer (or all layers) for one input. Subclass it with a ``name`` and :meth:`draw`."""

    name: ClassVar[str] = ""
    per: ClassVar[str] = "layer"
    needs_seen: ClassVar[bool] = False
    needs_importance: ClassVar[bool] = False
    needs_attention: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and cls.name:
            register(cls())

    def caption(self, title: str) -> str:
        """The caption of this view's picture of a layer whose display title is ``title``."""
        return f"{title} | {self.name}"

    def file_name(self, stem: str) -> str:
        """The file name of a picture (``stem``: the layer's grid file name without ``.png``; unused per input)."""
        return f"{self.name}.png" if self.per == "input" else f"{stem}.{self.name}.png"

    def draw(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
             options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> np.ndarray:
        """The (H, W, 3) uint8 picture: ``maps`` (C, H, W) of one layer and input (per input: a name ->
        (C, H, W) mapping, shallow to deep), under ``caption``; ``seen`` the (H, W, 3) uint8 image the model
        saw (None: not known); ``options`` how grids are drawn; ``min_size`` the shorter side of one map."""
        raise NotImplementedError

    def png(self, maps: Any, *, caption: str = "", seen: Optional[np.ndarray] = None,
            options: Optional[RenderOptions] = None, min_size: int = MIN_SIZE) -> bytes:
        """:meth:`draw` as PNG bytes."""
        return encode_png(self.draw(maps, caption=caption, seen=seen, options=options, min_size=min_size))

    def __repr__(self) -> str:
        needs = [word for word, flag in (("seen image", self.needs_seen), ("importance", self.needs_importance),
                                         ("attention", self.needs_attention)) if flag]
        return f"<view {self.name!r} per {self.per}{' needs ' + ', '.join(needs) if needs else ''}>"


def register(view: View) -> View:
    """Add ``view`` to :data:`VIEWS` (a later view of the same name replaces the earlier one); returns it."""
    if not isinstance(view, View) or not view.name:
        raise InputError(f"register takes a View with a name, got {view!r}.")
    if view.per not in PER:
        raise InputError(f"View {view.name!r} has per={view.per!r}; use one of {', '.join(PER)}.")
    VIEWS[view.name] = view
    return view


def unregister(name: str) -> None:
    """Remove the view ``name`` from :data:`VIEWS` (for tests and experiments)."""
    VIEWS.pop(name, None)


def check_views(views: Union[str, Sequence[str], None]) -> tuple[str, ...]:
    """A tuple of known view names from ``"grid,mean"`` or a list; unknown names raise with did-you-mean.

    >>> check_views("grid,mean"), check_views(["overlay"])
    (('grid', 'mean'), ('overlay',))
    """
    if views is None:
        return ("grid",)
    items = views.split(",") if isinstance(views, str) else list(views)
    names = tuple(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))
    for name in names:
        choose(name, VIEWS, "view", hint="Several: --view grid,overlay (views=\"grid,overlay\").")
    if not names:
        raise InputError(f"No view given; choose from {', '.join(VIEWS)}.")
    return names


def layer_maps_of(maps: Any) -> torch.Tensor:
    """``maps`` as a (C, H, W) float tensor, or InputError naming the shape."""
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3:
        shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise InputError(f"A view draws maps (C, H, W) of one layer and input, got {shape}.")
    return maps
