"""Pictures that show themselves in Jupyter: an image, a view of captured activations, a table of pictures.

These are data holders (analysis tier): their PNG comes from here, their HTML from the presentation
tier (:mod:`layerscope.display`, registered with :func:`~layerscope.core.display.html_for`), so
nothing here imports the HTML components.

>>> import numpy as np
>>> view = ImageView(np.zeros((2, 3, 3), np.uint8), title="a<b")
>>> view, view._repr_png_()[:4]
(ImageView(2x3x3, 'a<b'), b'\\x89PNG')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
from PIL import Image

from ..core.display import Displayable
from ..core.layout import layer_maps, select_names
from ..errors import InputError, LayerscopeError
from .png import encode_png
from .summary import check_summary, progression_strip

__all__ = ["ImageView", "ActivationsView", "ImageTable"]


class ImageView(Displayable):
    """An (H, W, 3) or (H, W) uint8 image (e.g. from :func:`overlay` or :func:`pca_rgb`) that Jupyter displays."""

    def __init__(self, array: np.ndarray, title: Optional[str] = None) -> None:
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise InputError(
                f"ImageView needs an (H, W) or (H, W, 3) uint8 numpy array, got "
                f"{type(array).__name__} {getattr(array, 'dtype', '')} {getattr(array, 'shape', '')}."
            )
        self.array = array
        self.title = title

    def _repr_png_(self) -> bytes:
        return encode_png(self.array)

    def to_pil(self) -> Image.Image:
        return Image.fromarray(self.array)

    def __repr__(self) -> str:
        return f"ImageView({'x'.join(map(str, self.array.shape))}{', ' + repr(self.title) if self.title else ''})"


class ActivationsView(Displayable):
    """Captured activations for Jupyter: the progression strip as PNG, a layer table as HTML.

    >>> import torch
    >>> view = ActivationsView({"a": torch.rand(1, 4, 8, 8), "b": torch.rand(1, 8, 4, 4)}, height=16)
    >>> view._repr_png_()[:4]
    b'\\x89PNG'
    """

    def __init__(
        self,
        acts: Mapping,
        *,
        index: int = 0,
        layers: Optional[Sequence[str]] = None,
        summary: str = "mean",
        height: int = 64,
        input_size: Any = None,
        layouts: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.acts = acts
        self.names = select_names(acts, layers)
        check_summary(summary)
        self.options = {"index": index, "summary": summary, "input_size": input_size, "layouts": layouts}
        self.height = height

    def _drawable(self) -> list[str]:
        ok = []
        for name in self.names:
            try:
                layer_maps(self.acts, name, layouts=self.options["layouts"], input_size=self.options["input_size"])
                ok.append(name)
            except LayerscopeError:
                continue
        return ok

    def strip(self) -> np.ndarray:
        """The progression strip of every layer that can be laid out (see :func:`progression_strip`)."""
        return progression_strip(self.acts, layers=self._drawable(), height=self.height, **self.options)

    def _repr_png_(self) -> Optional[bytes]:
        try:
            return encode_png(self.strip())
        except LayerscopeError:
            return None  # nothing drawable: Jupyter falls back to the HTML / text repr

    def __repr__(self) -> str:
        return f"ActivationsView({len(self.names)} layers, input {self.options['index']})"


@dataclass
class ImageTable(Displayable):
    """A table of pictures: ``images[row][column]`` (an array, a ChannelGrid, a PIL image or a PNG path), with
    ``rows`` as ``(key, tooltip)`` pairs, a ``title`` and ``notes`` under it. Displayed as thumbnails."""

    images: Mapping[str, Mapping[str, Any]]
    rows: Sequence[tuple[str, str]]
    columns: Sequence[str]
    title: str = ""
    notes: Sequence[str] = field(default_factory=tuple)
