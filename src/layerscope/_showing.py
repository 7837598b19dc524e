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
from torch import nn

from .render.grid import render_grids
from .render.options import RenderOptions
from .render.png import save_png, write_atomic
from .render.views import LAYER_VIEWS, captioned, figure_png, layer_view, seen_images

__all__ = ["Rendering", "render_batch", "default_layers", "attention_internal"]


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
    from .render.summary import progression_strip

    strip = progression_strip(acts, index=index, layers=names, height=96)
    picture = captioned(strip, f"{r.model_title}: mean map of each layer, shallow to deep")
    if r.out is None:
        return picture
    save_png(picture, r.out / item / "progression.png", overwrite=True)
    return f"{item}/progression.png"


def default_layers(module: nn.Module) -> Optional[list[str]]:
    """For token models (ViT, Swin ...): the outputs of the blocks of the longest block stack; None for others.

    A model is a token model here when it has at most one convolution (the patch embedding) and a
    ``ModuleList`` / ``Sequential`` of at least 2 blocks of one type that hold an attention module.

    >>> import torchvision
    >>> default_layers(torchvision.models.vit_b_16())[:2]
    ['encoder.layers.encoder_layer_0', 'encoder.layers.encoder_layer_1']
    >>> default_layers(torchvision.models.resnet18()) is None
    True
    """
    convs = sum(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) for m in module.modules())
    if convs > 1:
        return None
    best: list[str] = []
    for name, container in module.named_modules():
        if not isinstance(container, (nn.ModuleList, nn.Sequential)):
            continue
        children = list(container.named_children())
        kinds = {type(child) for _, child in children}
        if len(children) >= 2 and len(kinds) == 1 and _has_attention(children[0][1]) and len(children) > len(best):
            best = [f"{name}.{child}" if name else child for child, _ in children]
    return best or None


def _has_attention(block: nn.Module) -> bool:
    return any("attention" in type(m).__name__.lower() or name.rsplit(".", 1)[-1] in ("attn", "self_attention")
               for name, m in block.named_modules())


def attention_internal(name: str, module_type: str, tensor: torch.Tensor) -> Optional[str]:
    """Why a tensor is an attention internal (heads x tokens x dim, or tokens x tokens), not a map; else None.

    >>> attention_internal("blocks.0.attn.q_norm", "LayerNorm", torch.zeros(1, 12, 197, 64)) is not None
    True
    >>> attention_internal("layer1.0.conv1", "Conv2d", torch.zeros(1, 64, 56, 56)) is None
    True
    """
    words = f"{name} {module_type}".lower()
    if tensor.dim() != 4 or "conv" in module_type.lower() or not any(w in words for w in ("attn", "attention", "qkv")):
        return None
    heads, tokens, width = tensor.shape[1:]
    return (f"{name} is an attention internal of shape {heads}x{tokens}x{width} (heads x tokens x features, or "
            f"attention weights), not a spatial map: a picture of it would look like a map and mean nothing. Show "
            f"the block output instead (its parent, e.g. {name.rsplit('.', 1)[0]}), or pass --layout {name}=NCHW "
            f"if it really is one.")

