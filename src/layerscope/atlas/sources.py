"""The atlas of a model's layer over inputs: per-image vectors (the layer's maps averaged over positions) or
per-position vectors (one point per map position, its picture the position's receptive-field crop).

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
>>> images = torch.rand(12, 3, 8, 8)
>>> a = atlas_of(net, images, layer="1", grid=4, seed=0)
>>> len(a), a.layer, len(a.thumbnails) > 0
(12, '1', True)
>>> len(atlas_of(net, images, layer="1", per="position", max_points=50, grid=4, seed=0))
50
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from ..capturing import Recorder
from ..io.feed import Feed
from ..io.resolve import resolve_model
from ..scanning.receptive import receptive_fields
from ..storing.reader import load_activations
from ..errors import InputError
from .layout import Atlas, atlas

__all__ = ["atlas_of", "atlas_of_store", "PER"]

PER = ("image", "position")


def _vectors(value: torch.Tensor, layer: str, per: str) -> torch.Tensor:
    if value.dim() == 2:
        if per == "position":
            raise InputError(f"Layer {layer!r} gives vectors {tuple(value.shape)}: it has no positions; use per='image'.")
        return value
    if value.dim() != 4:
        raise InputError(f"Layer {layer!r} gives {tuple(value.shape)}; the atlas takes (N, C, H, W) maps or (N, C) vectors.")
    if per == "image":
        return value.mean(dim=(2, 3))
    return value.permute(0, 2, 3, 1).reshape(-1, value.shape[1])


def atlas_of(model: Any, inputs: Any, *, layer: str, per: str = "image", labels: Optional[Sequence[Any]] = None,
             names: Optional[Sequence[str]] = None, max_points: int = 100_000, batch: int = 64,
             preprocessing: Any = None, **options: Any) -> Atlas:
    """:func:`~layerscope.atlas.atlas` of ``layer`` of ``model`` over ``inputs`` (a tensor, or what
    :func:`layerscope.capture` takes: files, folders, PIL images), run in batches of ``batch``.

    ``per="image"``: one point per input, its maps averaged over positions, its picture the input as the model
    saw it. ``per="position"``: one point per map position (a seeded sample of ``max_points`` at most), its
    picture the position's receptive-field crop (:mod:`layerscope.scanning.receptive`), its label its input's.
    ``labels`` and ``names``: one per input (``names`` default to the files read). ``options``: :func:`~layerscope.atlas.atlas`'s (``grid``, ``seed``...).
    """
    if per not in PER:
        raise InputError(f"per={per!r}: choose 'image' (pooled maps) or 'position' (one point per map position).")
    loaded = resolve_model(model, preprocessing=preprocessing)
    module = loaded.module
    sources: list[str] = []
    if isinstance(inputs, torch.Tensor):
        x = inputs
    else:
        feed = Feed.of(inputs, loaded.preprocessing)
        x, sources = feed.one(), list(feed.sources)
    if names is None and sources and len(sources) == len(x):
        names = sources
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise InputError("atlas_of(): the inputs must make one (N, C, H, W) batch of images.")
    count = len(x)
    for what, given in (("labels", labels), ("names", names)):
        if given is not None and len(given) != count:
            raise InputError(f"atlas_of(): {len(given)} {what} for {count} inputs; give one per input.")
    parts, shape = [], None
    with Recorder(module, [layer]) as recorder:
        for start in range(0, count, batch):
            value = recorder(x[start:start + batch])[layer].float().cpu()
            shape = tuple(value.shape)
            parts.append(_vectors(value, layer, per))
    vectors = torch.cat(parts)
    pixels = loaded.preprocessing.pixels(x)
    if pixels is None:
        pixels = (x[:, :3].clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    if per == "image":
        return atlas(vectors, images=pixels, labels=labels, names=names, layer=layer, **options)
    assert shape is not None
    height, width = shape[2], shape[3]
    seed = options.get("seed", 0)
    chosen = np.arange(len(vectors))
    if len(chosen) > max_points:
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, max_points, replace=False))
    image, rest = np.divmod(chosen, height * width)
    row, col = np.divmod(rest, width)
    field = receptive_fields(module, {layer: (height, width)}, x[:1])[layer]

    def crop(i: int) -> np.ndarray:
        x0, y0, x1, y1 = field.box(int(row[i]), int(col[i]))
        return pixels[int(image[i]), y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]

    where = [f"{names[i] if names is not None else f'#{i}'} ({r}, {c})"
             for i, r, c in zip(image.tolist(), row.tolist(), col.tolist())]
    point_labels = [labels[i] for i in image.tolist()] if labels is not None else None
    return atlas(vectors[torch.from_numpy(chosen)], images=crop, labels=point_labels, names=where, layer=layer,
                 **options)


def atlas_of_store(where: Any, *, layer: Optional[str] = None, max_points: int = 100_000, **options: Any) -> Atlas:
    """:func:`~layerscope.atlas.atlas` of one layer of an activation store (:func:`layerscope.dump`'s folder):
    its rows (a seeded sample of ``max_points`` at most), labelled with the stored labels where there are any,
    named after their sources (with the position for per-position rows). A cell's pictures are its members'
    source files, read only for the cells' top members (none when the sources are not image files).

    >>> import tempfile, torch, layerscope as ls
    >>> out = tempfile.mkdtemp()
    >>> _ = ls.dump(torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3)), torch.randn(8, 1, 6, 6), out=out, progress=False)
    >>> a = atlas_of_store(out, layer="0", max_points=40, grid=4)
    >>> len(a), a.names[0].startswith("tensor[")
    (40, True)
    """
    stored = load_activations(where, layer=layer)
    chunks = list(stored)
    if not chunks:
        raise InputError(f"The store {where} holds no rows of layer {stored.layers!r}; dump some inputs first.")
    values = torch.cat([c.values for c in chunks])
    image, y, x = (torch.cat([getattr(c, key) for c in chunks]).numpy() for key in ("image", "y", "x"))
    chosen = np.arange(len(values))
    if len(chosen) > max_points:
        chosen = np.sort(np.random.default_rng(options.get("seed", 0)).choice(chosen, max_points, replace=False))
    sources = stored.sources
    source = [str(sources.get(int(i), [f"#{int(i)}", None])[0]) for i in image[chosen].tolist()]
    label = [sources.get(int(i), [None, None])[1] for i in image[chosen].tolist()]
    labels = label if any(v is not None for v in label) else None
    names = [s if y[i] < 0 else f"{s} ({y[i]}, {x[i]})" for s, i in zip(source, chosen.tolist())]

    def picture(i: int) -> np.ndarray:
        with Image.open(source[i]) as opened:
            return np.asarray(opened.convert("RGB"))

    files = all(os.path.isfile(s) for s in dict.fromkeys(source))
    return atlas(values[torch.from_numpy(chosen)], images=picture if files else None, labels=labels, names=names,
                 layer=str(stored.layer), **options)
