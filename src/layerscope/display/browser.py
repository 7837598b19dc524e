"""``layerscope.browse(model, inputs)``: a notebook browser of feature maps, made of core ipywidgets only.

>>> import torch, torch.nn as nn, layerscope as ls
>>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
>>> browser = ls.browse(model, torch.rand(2, 3, 16, 16))     # in Jupyter: display(browser), or end a cell with it
>>> first = browser.image.value
>>> browser.layer.value = "2"                                # what the dropdown does when clicked
>>> browser.image.value != first, browser.channel.max
(True, 3)

A Dropdown picks the layer, sliders the input and the channel (-1: the grid of every channel), toggle
buttons the normalization, a toggle button lays the map over the input image; the picture is an
``ipywidgets.Image`` of PNG bytes. No custom front-end code, so it works wherever ipywidgets does
(JupyterLab, Notebook, VS Code, Colab). The activations are captured once, when the browser is made.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
import torch

from ..capturing.activations import Activations
from ..capturing.select import LayerSelector
from ..errors import InputError, require
from ..io.feed import Feed
from ..render import RenderOptions, encode_png, render_grid
from ..render.overlays import overlay
from ..reporting.images import seen_image
from ..run.loop import Run
from ..run.maps import LayerMaps
from ..run.options import RunOptions
from ..run.subject import Subject

__all__ = ["browse", "Browser", "NORMALIZATIONS"]

NORMALIZATIONS = ("channel", "layer", "robust", "signed")
PIXELS = 320  # a single map or an overlay is enlarged to about this many pixels on its longer side


def browse(
    model: Any,
    inputs: Any,
    layers: LayerSelector = None,
    *,
    preprocessing: Any = None,
    options: Optional[RenderOptions] = None,
    max_inputs: int = 16,
) -> "Browser":
    """Capture ``layers`` of ``model`` on ``inputs`` (at most ``max_inputs``) and return a :class:`Browser`.

    ``model``, ``inputs``, ``layers`` and ``preprocessing`` as for :func:`layerscope.capture`;
    ``options``: how grids are drawn (a :class:`~layerscope.render.RenderOptions`; the toggle sets
    its normalization). Needs ``ipywidgets`` (``pip install 'layerscope[notebook]'``).
    """
    require("ipywidgets", "notebook", "layerscope.browse")
    subject = Subject.of(model, layers, preprocessing=preprocessing)
    feed = Feed(inputs, subject.preprocessing, strict=True)
    batch = feed.one()
    if not isinstance(batch, torch.Tensor) or batch.dim() != 4:
        raise InputError("browse shows images: give image files, PIL images or a tensor (N, C, H, W).")
    batch = batch[: max(1, int(max_inputs))]
    step = list(Run(subject, batch, RunOptions(batch_size=len(batch), progress=False), desc="browse"))[0]
    return Browser(step.acts, batch, preprocessing=subject.preprocessing if feed.from_images else None,
                   options=options, layouts=subject.layouts)


def _display_images(batch: torch.Tensor, preprocessing: Any) -> list[np.ndarray]:
    """The inputs as (H, W, 3) uint8: preprocessing undone for images (its one inverse, ``seen_image``), each
    tensor min-max scaled otherwise."""
    if preprocessing is not None:
        seen = [seen_image(x, preprocessing) for x in batch]
        if all(picture is not None for picture in seen):
            return seen  # type: ignore[return-value]
    x = batch.detach().float().cpu()
    low = x.flatten(1).amin(1)[:, None, None, None]
    high = x.flatten(1).amax(1)[:, None, None, None]
    x = (x - low) / (high - low).clamp_min(1e-12)
    x = x[:, :3] if x.shape[1] >= 3 else x[:, :1].expand(-1, 3, -1, -1)
    return [np.ascontiguousarray((img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()) for img in x]


def _enlarge(rgb: np.ndarray, pixels: int = PIXELS) -> np.ndarray:
    factor = max(1, pixels // max(rgb.shape[:2]))
    return rgb if factor == 1 else np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


class Browser:
    """The widgets of :func:`browse` and what they show. ``widget`` is the whole box; Jupyter displays the
    browser itself. ``layer`` (Dropdown), ``input`` and ``channel`` (IntSlider, -1 = every channel),
    ``normalize`` (ToggleButtons), ``overlay`` (ToggleButton), ``image`` (Image, PNG bytes), ``info`` (Label).
    """

    def __init__(self, acts: Activations, batch: torch.Tensor, *, preprocessing: Any = None,
                 options: Optional[RenderOptions] = None, layouts: Optional[Mapping[str, str]] = None) -> None:
        import ipywidgets as w

        size = tuple(batch.shape[-2:])
        reader = LayerMaps(layouts)
        self.maps: dict[str, torch.Tensor] = {}
        for name in acts:
            laid = reader.maps(name, acts[name], acts.describe(name), size)
            if laid is not None:
                self.maps[name] = laid.maps
        self.notes = [f"{name}: not shown ({why})" for name, why in reader.skipped.items()]
        if not self.maps:
            raise InputError("None of the captured layers can be drawn as maps; " + " ".join(self.notes))
        self.images = _display_images(batch, preprocessing)
        self.options = RenderOptions.of(options, labels=True) if options is None else options
        first = next(iter(self.maps.values()))
        self.layer = w.Dropdown(options=list(self.maps), description="layer")
        self.input = w.IntSlider(0, min=0, max=len(self.images) - 1, description="input",
                                 disabled=len(self.images) == 1)
        self.channel = w.IntSlider(-1, min=-1, max=first.shape[1] - 1, description="channel")
        self.normalize = w.ToggleButtons(options=list(NORMALIZATIONS), value="channel", description="scale")
        self.overlay = w.ToggleButton(False, description="overlay on input")
        self.image = w.Image(format="png")
        self.info = w.Label()
        self.widget = w.VBox([w.HBox([self.layer, self.normalize]), w.HBox([self.input, self.channel, self.overlay]),
                              self.image, self.info])
        for control in (self.layer, self.input, self.channel, self.normalize, self.overlay):
            control.observe(self._changed, names="value")
        self.render()

    def _changed(self, change: dict) -> None:
        if change["owner"] is self.layer:
            channels = self.maps[self.layer.value].shape[1]
            if self.channel.value >= channels:
                self.channel.value = -1  # observed: renders
            self.channel.max = channels - 1
        self.render()

    def picture(self) -> tuple[np.ndarray, str]:
        """The current picture as (RGB uint8, caption)."""
        name, index, channel = self.layer.value, self.input.value, self.channel.value
        maps = self.maps[name][index]
        chosen = {} if channel < 0 else {"channels": (channel,), "scale": max(1, PIXELS // max(maps.shape[-2:]))}
        grid = render_grid(maps, self.options, layer=name, normalize=self.normalize.value, **chosen)
        what = f"{name}, input {index}, " + (f"{maps.shape[0]} channels" if channel < 0 else f"channel {channel}")
        if not self.overlay.value:
            return grid.rgb, f"{what}; {grid.meta.normalization.describe()}"
        heat = maps.mean(0) if channel < 0 else maps[channel]
        norm = grid.meta.normalization
        value_range = None if channel < 0 or not np.isfinite([norm.vmin[0], norm.vmax[0]]).all() \
            or norm.vmax[0] <= norm.vmin[0] else (norm.vmin[0], norm.vmax[0])
        picture = overlay(_enlarge(self.images[index]), heat, value_range=value_range)
        return picture, f"{what} over the input" + (" (mean of the channels)" if channel < 0 else "")

    def render(self) -> None:
        picture, caption = self.picture()
        self.image.value = encode_png(picture)
        self.info.value = caption

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"Browser({len(self.maps)} layers, {len(self.images)} inputs)"
