"""How :func:`layerscope.show` renders one step of its run: every layer's grid and views in a thread pool.

The views come from the registry :data:`~layerscope.render.views.VIEWS`: a per-layer view draws
each (layer, input), a per-input view (``progression``) each input over all layers; a view that
needs the seen image is left out where there is none, one that needs importance gets the heat map, one that
needs attention the attention map of the layer's attention module (left out for a layer without one).

>>> _caption_title("features.0", {"features.0": "conv1_1"}, random_init=True)
'conv1_1 (random init)'
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ..core.layout import Maps
from ..core.outputs import OutputFolder
from ..render.options import RenderOptions
from ..render.png import encode_png
from ..core.names import safe_name
from ..explain._card_draw import with_labels
from ..io.preprocess import Preprocessing
from ..render.views import VIEWS, View
from ..render.views.grid import GridView
from ..run.loop import Step
from ..run.maps import LayerMaps

__all__ = ["Rendering", "ShownLayers", "render_step", "STRIP_HEIGHT"]

STRIP_HEIGHT = 8  # pixels a 1-pixel-high map (a Conv1d channel, a vector) is stretched to


def _caption_title(layer: str, names: Mapping[str, str], random_init: bool) -> str:
    title = names.get(layer, layer)
    return f"{title} (random init)" if random_init else title


@dataclass
class Rendering:
    """What stays fixed over a show run: options, views, titles, where files go (``folder``; None: in memory)."""

    options: RenderOptions
    views: tuple[str, ...]
    names: Mapping[str, str]
    random_init: bool
    folder: Optional[OutputFolder]
    pool: ThreadPoolExecutor
    preprocessing: Preprocessing  # undoes the inputs' normalization: the image the model saw
    model_title: str
    rank: Optional[str] = None  # "importance": grids in importance order (see layerscope.explain.ranking)
    classes: Optional[Sequence[str]] = None
    labels: Optional[Mapping[str, Sequence[Any]]] = None  # per layer, each channel's ChannelLabel (show channel_labels=True)

    def title(self, layer: str) -> str:
        return _caption_title(layer, self.names, self.random_init)

    def target_name(self, index: Union[int, str]) -> str:
        if isinstance(index, str):  # a target other than a class (layerscope.explain.targets)
            return index
        return f"class {index} ({self.classes[index]})" if self.classes and index < len(self.classes) else f"class {index}"

    def per(self, kind: str) -> list[View]:
        """The chosen views drawn per ``kind`` (layer or input), the grid apart."""
        return [VIEWS[name] for name in self.views if name != "grid" and VIEWS[name].per == kind]

    def put(self, view: View, maps: Any, relpath: str, **kwargs: Any) -> Any:
        """The picture of ``view``: written to ``relpath`` (returned) when there is a folder, else the array."""
        if self.folder is None:
            return view.draw(maps, **kwargs)
        self.folder.write(view.png(maps, **kwargs), relpath)
        return relpath


def _stretched(maps: torch.Tensor) -> torch.Tensor:
    """1-D strips (Conv1d, vectors) stretched to a visible height (a view, no copy)."""
    return maps.expand(-1, -1, STRIP_HEIGHT, -1) if maps.shape[-2] == 1 else maps


class ShownLayers(LayerMaps):
    """The layers met so far, each with its grid's file name ``<NN>_<layer>.png`` (``row["file"]``)."""

    def __init__(self, layouts: Optional[Mapping[str, str]] = None, transforms: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(layouts, transforms)
        self.digits = 2  # of the layer number in file names; widened for models with > 100 layers

    def added(self, name: str, row: dict) -> None:
        row["file"] = f"{len(self.rows) - 1:0{self.digits}d}_{safe_name(name)}.png"


def render_step(step: Step, items: list[str], known: ShownLayers, r: Rendering, ranked: Any = None,
                attended: Optional[Mapping[str, Mapping[str, torch.Tensor]]] = None) -> Iterator[tuple]:
    """Render every layer of one step; yields ``(input, layer, grid metadata, grid or file, {view: picture})``.

    ``known`` reads each layer's maps and names its grid file as layers are met. Waits for
    the whole batch (bounds memory) and raises the first error. The per-input views (``progression``)
    of each input come last, under the layer ``None``. ``ranked`` (a
    :class:`~layerscope.explain.ranking.Ranked`) gives the importance order and heat maps of the batch;
    ``attended`` per layer that has them the attention maps ``(N, 1, h, w)`` of each attention view (``attention``,
    ``rollout``; :func:`~layerscope.explain.attention.layer_attention`).
    """
    acts, batch = step.acts, step.batch
    known.digits = max(known.digits, len(str(len(acts) - 1)))
    pixels = r.preprocessing.pixels(batch) if batch.dim() == 4 else None
    seen = list(pixels) if pixels is not None else None
    jobs, laid = [], {}
    for name, tensor in acts.items():
        maps = known.maps(name, tensor, acts.describe(name), tuple(batch.shape[-2:]))
        if maps is not None:
            laid[name] = maps.maps
            file = known.rows[name]["file"]
            jobs.append((name, r.pool.submit(_render_layer, _stretched(maps.maps), name, file, items, seen, r, ranked,
                                             attended)))
            if maps.prefix is not None and "grid" in r.views and r.folder is not None:
                known.rows[name].setdefault("prefix", {"names": list(maps.prefix_names), "file": _prefix_file(file)})
                jobs.append((None, r.pool.submit(_render_prefix, maps, name, file, items, r)))
    for name, job in jobs:
        for item, result in zip(items, job.result() or ()):
            yield (item, name, *result)
    inputs = r.per("input")
    if inputs and laid:
        for index, item in enumerate(items):
            one = {name: maps[index] for name, maps in laid.items()}
            pictures = {view.name: r.put(view, one, f"{item}/{view.file_name('')}", caption=view.caption(r.model_title),
                                         seen=seen[index] if seen else None, options=r.options) for view in inputs}
            yield item, None, None, None, pictures


def _prefix_file(file: str) -> str:
    return f"{file[: -len('.png')]}.prefix.png"


def _render_prefix(maps: Maps, layer: str, file: str, items: list[str], r: Rendering) -> None:
    """A token layer's prefix tokens (CLS, distillation, registers), drawn as a vector is: one strip per token
    (:meth:`~layerscope.core.layout.Maps.prefix_maps`), ``<NN>_<layer>.prefix.png`` beside the layer's grid."""
    options = r.options.replace(channels=None, max_channels=None, order="index", columns=1)
    title = f"{r.title(layer)} | prefix tokens, top to bottom: {', '.join(maps.prefix_names)}"
    for item, grid in zip(items, GridView().grids(_stretched(maps.prefix_maps()), options, layer=layer, title=title)):
        r.folder.write(grid.png_bytes(), f"{item}/{_prefix_file(file)}")


def _grids(maps: torch.Tensor, layer: str, title: str, r: Rendering, ranked) -> list:
    """The grids of one layer for the batch: in channel order, or each input's importance order."""
    if "grid" not in r.views:
        return [None] * len(maps)
    grid = VIEWS["grid"] if isinstance(VIEWS["grid"], GridView) else GridView()  # show also writes grid metadata
    if r.rank is None or ranked is None or layer not in ranked.order:
        return grid.grids(maps, r.options, layer=layer, title=title)
    k = r.options.max_channels or maps.shape[1]
    return [grid.grids(maps[i : i + 1], r.options.replace(channels=tuple(ranked.order[layer][i, :k].tolist())),
                       layer=layer, title=f"{title} | by importance for {r.target_name(ranked.target[i])}")[0]
            for i in range(len(maps))]


def _render_layer(maps: torch.Tensor, layer: str, file: str, items: list[str], seen: Optional[list[np.ndarray]],
                  r: Rendering, ranked=None, attended: Optional[Mapping[str, Mapping[str, torch.Tensor]]] = None
                  ) -> list:
    """One layer's grids and views for every input of the batch, written when there is a folder (a worker thread)."""
    title = r.title(layer)
    grids = _grids(maps, layer, title, r, ranked)
    stem = file[: -len(".png")]
    results = []
    for index, (item, grid) in enumerate(zip(items, grids)):
        meta = grid.meta.to_dict() if grid is not None else None
        made = grid
        if grid is not None and r.folder is not None:
            found = (r.labels or {}).get(layer)
            data = grid.png_bytes() if found is None else encode_png(
                with_labels(grid.rgb, [found[c] for c in grid.meta.channels if c < len(found)]))
            made = r.folder.write(data, f"{item}/{file}")
        image = seen[index] if seen else None
        views = {}
        for view in r.per("layer"):
            if view.needs_seen and image is None:
                continue
            if view.needs_importance:
                if ranked is None or layer not in ranked.heat:
                    continue
                values = ranked.heat[layer][index][None]
                caption = view.caption(f"{title} | importance for {r.target_name(ranked.target[index])}")
            elif view.needs_attention:
                if attended is None or view.name not in attended.get(layer, {}):
                    continue
                values, caption = attended[layer][view.name][index], view.caption(title)
            else:
                values, caption = maps[index], view.caption(title)
            views[view.name] = r.put(view, values, f"{item}/{view.file_name(stem)}", caption=caption, seen=image,
                                     options=r.options)
        results.append((meta, made, views))
    return results
