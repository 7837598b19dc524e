"""How :func:`layerscope.show` renders one batch: every layer's grid and views in a thread pool, then the strips.

The pieces that are not about folders and the index: captions (display names, "random init"),
the default layers of token models, attention internals refused with advice.

>>> _caption_title("features.0", {"features.0": "conv1_1"}, random_init=True)
'conv1_1 (random init)'
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import torch

from ..render.grid import render_grids
from ..render.options import RenderOptions
from ..render.png import save_png, write_atomic
from ..render.views import LAYER_VIEWS, captioned, figure_png, layer_view, seen_images

__all__ = ["Rendering", "render_batch"]


def _caption_title(layer: str, names: Mapping[str, str], random_init: bool) -> str:
    title = names.get(layer, layer)
    return f"{title} (random init)" if random_init else title


@dataclass
class Rendering:
    """What stays fixed over a show run: options, views, titles, where files go."""

    options: RenderOptions
    views: tuple[str, ...]
    names: Mapping[str, str]
    random_init: bool
    out: Optional[Path]
    overwrite: bool
    pool: ThreadPoolExecutor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    model_title: str
    rank: Optional[str] = None  # "importance": grids in importance order (see layerscope.explain.ranking)
    classes: Optional[Sequence[str]] = None

    def title(self, layer: str) -> str:
        return _caption_title(layer, self.names, self.random_init)

    def target_name(self, index: int) -> str:
        return f"class {index} ({self.classes[index]})" if self.classes and index < len(self.classes) else f"class {index}"


def render_batch(acts, batch: torch.Tensor, items: list[str], known, r: Rendering, ranked: Any = None):
    """Render every layer of one batch; yields ``(input, layer, grid metadata, grid or file, {view: file})``.

    Waits for the whole batch (bounds memory) and raises the first error. The progression strip of
    each input (view ``progression``) is written last, under the key ``None``. ``ranked`` (a
    :class:`~layerscope.explain.ranking.Ranked`) gives the importance order and heat maps of the batch.
    """
    known.digits = max(known.digits, len(str(len(acts) - 1)))
    seen = seen_images(batch, r.mean, r.std) if batch.dim() == 4 and batch.shape[1] in (1, 3) else None
    jobs, shown = [], []
    for name, tensor in acts.items():
        maps = known.maps(name, tensor, acts.describe(name), tuple(batch.shape[-2:]))
        if maps is not None:
            shown.append(name)
            jobs.append((name, r.pool.submit(_render_layer, maps, name, known.rows[name]["file"], items, seen, r,
                                             ranked)))
    for name, job in jobs:
        for item, result in zip(items, job.result()):
            yield (item, name, *result)
    if "progression" in r.views and shown:
        for index, item in enumerate(items):
            yield item, None, None, None, {"progression": _progression(acts, shown, index, item, r)}


def _grids(maps: torch.Tensor, layer: str, title: str, r: Rendering, ranked) -> list:
    """The grids of one layer for the batch: in channel order, or each input's importance order."""
    if "grid" not in r.views:
        return [None] * len(maps)
    if r.rank is None or ranked is None or layer not in ranked.order:
        return render_grids(maps, r.options, layer=layer, title=title)
    k = r.options.max_channels or maps.shape[1]
    return [render_grids(maps[i : i + 1], r.options.replace(channels=tuple(ranked.order[layer][i, :k].tolist())),
                         layer=layer, title=f"{title} | by importance for {r.target_name(ranked.target[i])}")[0]
            for i in range(len(maps))]


def _render_layer(maps: torch.Tensor, layer: str, file: str, items: list[str], seen, r: Rendering, ranked=None) -> list:
    """One layer's grids and views for every input of the batch, written when ``r.out`` is set (a worker thread)."""
    title = r.title(layer)
    grids = _grids(maps, layer, title, r, ranked)
    results = []
    for index, (item, grid) in enumerate(zip(items, grids)):
        meta = grid.meta.to_dict() if grid is not None else None
        target = grid
        if grid is not None and r.out is not None:
            target = grid.save(r.out / item / file, overwrite=True)
        views = {}
        for view in r.views:
            if view in LAYER_VIEWS and (view != "overlay" or seen is not None):
                views[view] = _layer_view(view, maps[index], title, seen[index] if seen else None, r, item, file)
            elif view == "importance" and ranked is not None and layer in ranked.heat:
                heat_title = f"{title} | importance for {r.target_name(ranked.target[index])}"
                views[view] = _layer_view(view, ranked.heat[layer][index][None], heat_title,
                                          seen[index] if seen else None, r, item, file)
        results.append((meta, target, views))
    return results


def _layer_view(view: str, maps: torch.Tensor, title: str, seen, r: Rendering, item: str, file: str):
    stem = file[: -len(".png")]
    if view == "figure":
        data = figure_png(maps, title=f"{title}  ({'x'.join(str(d) for d in maps.shape)})")
        if r.out is None:
            return data
        write_atomic(data, r.out / item / f"{stem}.figure.png", overwrite=True)
        return f"{item}/{stem}.figure.png"
    if view == "importance":  # the heat map over the image the model saw: an overlay of its one channel
        picture = layer_view("overlay" if seen is not None else "mean", maps, title=title, seen=seen)
    else:
        picture = layer_view(view, maps, title=f"{title} | {view}", seen=seen)
    if r.out is None:
        return picture
    save_png(picture, r.out / item / f"{stem}.{view}.png", overwrite=True)
    return f"{item}/{stem}.{view}.png"


def _progression(acts, names: list[str], index: int, item: str, r: Rendering):
    from ..render.summary import progression_strip

    strip = progression_strip(acts, index=index, layers=names, height=96)
    picture = captioned(strip, f"{r.model_title}: mean map of each layer, shallow to deep")
    if r.out is None:
        return picture
    save_png(picture, r.out / item / "progression.png", overwrite=True)
    return f"{item}/progression.png"
