"""``layerscope.show``: channel grids of chosen layers for a set of images, as PNG files + an index.

>>> import torch, torch.nn as nn, tempfile
>>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
>>> result = show(model, torch.randn(2, 3, 16, 16), out=tempfile.mkdtemp() + "/maps")
>>> [p.relative_to(result.out).as_posix() for p in result.files["input-001"].values()]
['input-001/00_0.png', 'input-001/01_2.png']
>>> result.index.name
'index.json'
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch

from .errors import InputError, LayoutError
from .io.resolve import resolve_model
from .layout import canonical_layout
from .render.grid import ChannelGrid, render_grids
from .render.options import RenderOptions
from .render.png import write_atomic

__all__ = ["show", "ShowResult"]

STRIP_HEIGHT = 8  # pixels a 1-pixel-high map (a Conv1d channel, a vector) is stretched to
DEFAULT_OPTIONS = RenderOptions(max_channels=64, caption=True)  # show's: the first 64 channels, captioned


@dataclass
class ShowResult:
    """What :func:`show` rendered: files per input and layer, layer metadata, skipped inputs.

    ``files[input][layer]`` is the PNG path (when ``out`` was given); ``grids[input][layer]``
    the :class:`~layerscope.render.ChannelGrid` (when ``out`` was None). ``options`` are the
    :class:`~layerscope.render.RenderOptions` used (with the shared ranges of ``normalize="global"``);
    :meth:`to_dict` is the content of ``index.json``. In Jupyter the result shows a table of thumbnails.
    """

    out: Optional[Path]
    index: Optional[Path]
    options: RenderOptions
    model: dict
    preprocessing: dict
    input_shape: tuple[int, ...]
    files: dict[str, dict[str, Path]] = field(default_factory=dict)
    grids: dict[str, dict[str, ChannelGrid]] = field(default_factory=dict)
    layers: list[dict] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    skipped_layers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(v) for v in (self.files or self.grids).values())

    def to_dict(self) -> dict:
        """The content of ``index.json``: version, model, preprocessing, render options, layers, inputs, skips."""
        from . import __version__

        return {
            "layerscope_version": __version__,
            "model": self.model,
            "preprocessing": self.preprocessing,
            "input_shape": list(self.input_shape),
            "render": self.options.to_dict(),
            "layers": self.layers,
            "inputs": self.inputs,
            "skipped_inputs": [{"path": p, "reason": r} for p, r in self.skipped],
            "skipped_layers": [{"layer": n, "reason": r} for n, r in self.skipped_layers],
        }

    def _repr_html_(self) -> str:
        from .render.repr import image_table

        notes = [f"skipped {p}: {r}" for p, r in self.skipped] + [f"skipped layer {n}: {r}" for n, r in self.skipped_layers]
        rows = [(entry["name"], entry["source"]) for entry in self.inputs]
        columns = [row["name"] for row in self.layers]
        return image_table(self.files or self.grids, rows, columns, title=repr(self), notes=notes)

    def __repr__(self) -> str:
        where = f" in {self.out}" if self.out else ""
        skipped = f", {len(self.skipped)} inputs skipped" if self.skipped else ""
        return f"ShowResult({self.count} grids of {len(self.layers)} layers x {len(self.inputs)} inputs{where}{skipped})"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "output"


def _input_names(labels: Sequence[str]) -> list[str]:
    names, seen = [], set()
    for i, label in enumerate(labels):
        base = _safe(Path(label).stem) if not label.startswith("<") else f"input-{i:03d}"
        name, k = base, 2
        while name in seen:
            name, k = f"{base}-{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


def _feed(images: Any, loaded, batch_size: int) -> tuple[list[torch.Tensor], list[str], list[list[str]], Any]:
    """Every input through the one way in: ``(batches, source per input, notes per input, feed)``."""
    from .io.feed import Feed

    if isinstance(images, torch.Tensor) and images.dim() == 3:
        images = images.unsqueeze(0)  # one image (C, H, W)
    feed = Feed.of(images, loaded.preprocessing, max(1, int(batch_size)))
    batches = list(feed)
    for batch in batches:
        if not isinstance(batch, torch.Tensor) or batch.dim() != 4:
            what = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
            raise InputError(f"show renders images: inputs must be (N, C, H, W) or (C, H, W) tensors or image "
                             f"files, got {what}. For other inputs use layerscope.capture and layerscope.render.")
    tensor_note = ["tensor given: used as is, not preprocessed"]
    notes = [list(r.notes) for r in feed.images] if feed.images else [tensor_note] * feed.count
    return batches, feed.sources, notes, feed


def _check_free(out: Path, names: list[str], overwrite: bool) -> None:
    if overwrite or not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory; choose a directory path.")
    taken = [n for n in ["index.json", *names] if (out / n).exists()]
    if taken:
        raise InputError(
            f"{out} already holds {', '.join(taken[:3])}{' ...' if len(taken) > 3 else ''} from an earlier run; "
            "pass overwrite=True (CLI: --overwrite) to replace them, or choose a fresh output directory."
        )


def _global_ranges(rec, batches) -> dict[str, tuple[float, float]]:
    """Min-max of every captured layer over all inputs (a first pass for ``normalize='global'``)."""
    from .render.normalize import shared_range

    ranges: dict[str, tuple[float, float]] = {}
    for batch in batches:
        for name, tensor in rec(batch).items():
            lo, hi = shared_range([tensor], "layer")
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(lo, old[0]), max(hi, old[1]))
    return ranges


class _Layers:
    """The layers met so far: a row of metadata (and a file name) each, or the reason it was skipped."""

    def __init__(self, layouts: Optional[Mapping[str, str]]) -> None:
        self.layouts = dict(layouts or {})
        self.rows: dict[str, dict] = {}
        self.skipped: dict[str, str] = {}
        self.digits = 2  # of the layer number in file names; widened for models with > 100 layers

    def maps(self, name: str, tensor: torch.Tensor, record: dict, input_size: tuple[int, int]) -> Optional[torch.Tensor]:
        from .layout import to_maps

        if name in self.skipped:
            return None
        layout = self.rows[name]["layout"] if name in self.rows else self.layouts.get(name)
        try:
            maps = to_maps(tensor, layout=layout, input_size=input_size, module_type=record["module_type"])
        except LayoutError as err:
            self.skipped[name] = str(err)
            return None
        if name not in self.rows:
            row = {**record, "shape": list(tensor.shape[1:]), "channels": int(maps.maps.shape[1]), "layout": maps.layout,
                   "notes": maps.notes}
            row["file"] = f"{len(self.rows):0{self.digits}d}_{_safe(name)}.png"
            self.rows[name] = row
        if maps.maps.shape[-2] == 1:  # 1-D strips (Conv1d, vectors): stretch to a visible height, a view
            return maps.maps.expand(-1, -1, STRIP_HEIGHT, -1)
        return maps.maps


def show(
    model: Any,
    images: Any,
    layers: Any = None,
    out: Union[str, Path, None] = None,
    *,
    options: Optional[RenderOptions] = None,
    layouts: Optional[Mapping[str, str]] = None,
    overwrite: bool = False,
    batch_size: int = 8,
    threads: Optional[int] = None,
    preprocessing: Any = None,
    **option_fields: Any,
) -> ShowResult:
    """Capture ``layers`` of ``model`` on ``images`` and render one channel grid per (layer, input).

    ``model``: a spec (``"torchvision:resnet18"``, ``"builtin:digits"``), an ``nn.Module`` or a
    ``LoadedModel`` (``preprocessing=`` replaces its preprocessing; a bare module's is assumed, see
    :mod:`layerscope.io.resolve`); ``images``: files / directories / globs / PIL images (unreadable
    files are skipped and listed; for ``strict``, ``recursive`` or ``max_pixels`` pass a
    :class:`~layerscope.io.feed.Feed` made with them), or a tensor, used as is. With ``out`` the grids go to
    ``out/<input>/<NN>_<layer>.png`` plus ``out/index.json``; existing files are never replaced
    unless ``overwrite=True``. Without ``out`` the grids are returned in ``result.grids``.

    How grids are drawn: ``options`` (a :class:`~layerscope.render.RenderOptions`; None:
    :data:`DEFAULT_OPTIONS`, at most 64 channels, captioned), any of whose fields may be given as a
    keyword that replaces it: ``show(model, img, out="maps", max_channels=12, scale=4)``.
    ``normalize="global"`` without ``value_range`` shares one min-max per layer across all inputs
    (a second forward pass); ``value_range`` may also map layer names to ranges.
    ``max_channels=0`` renders every channel (the atlas). ``layouts`` maps layer names to
    :func:`~layerscope.layout.to_maps` layouts (how to read a layer's tensor).
    """
    from .capture import Recorder

    options = RenderOptions.of(DEFAULT_OPTIONS if options is None else options, **option_fields)
    layouts = {name: canonical_layout(layout) for name, layout in (layouts or {}).items()}
    loaded = resolve_model(model, preprocessing=preprocessing)
    batches, sources, notes, feed = _feed(images, loaded, batch_size)
    names = _input_names(sources)
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        _check_free(out_dir, names, overwrite)
    known, metas = _Layers(layouts), {n: {} for n in names}
    made: dict[str, dict[str, Any]] = {}  # input -> layer -> grid, or the file it was written to
    with Recorder(loaded.module, layers) as rec, ThreadPoolExecutor(threads or min(8, os.cpu_count() or 1)) as pool:
        if options.normalize == "global" and options.value_range is None:
            options = options.replace(value_range=_global_ranges(rec, batches))
        start = 0
        for batch in batches:
            items, start = names[start : start + len(batch)], start + len(batch)
            for item, name, meta, grid_or_file in _render_batch(
                rec(batch), items, tuple(batch.shape[-2:]), known, options, pool, out_dir, overwrite
            ):
                metas[item][name] = meta
                made.setdefault(item, {})[name] = grid_or_file
    inputs = [
        {"name": n, "source": src, "notes": note, "grids": metas[n],
         "files": {k: f"{n}/{p.name}" for k, p in made.get(n, {}).items()} if out_dir else {}}
        for n, src, note in zip(names, sources, notes)
    ]
    result = ShowResult(
        out_dir, None, options, loaded.to_dict(), loaded.preprocessing.to_dict(), tuple(batches[0].shape[1:]),
        files=made if out_dir else {}, grids={} if out_dir else made, layers=list(known.rows.values()),
        inputs=inputs, skipped=list(feed.skipped), skipped_layers=list(known.skipped.items()),
    )
    if out_dir is not None:
        text = json.dumps(result.to_dict(), default=str)  # compact: the C encoder (indent= is pure Python)
        result.index = write_atomic(text.encode("utf-8"), out_dir / "index.json", overwrite=overwrite)
    return result


def _render_batch(acts, items: list[str], input_size: tuple[int, int], known: _Layers, options: RenderOptions,
                  pool: ThreadPoolExecutor, out_dir: Optional[Path], overwrite: bool):
    """Render every layer of one batch in ``pool``; yields ``(input, layer, grid metadata, grid or file)``.

    Waits for the whole batch (bounds memory) and raises the first error.
    """
    known.digits = max(known.digits, len(str(len(acts) - 1)))
    jobs = []
    for name, tensor in acts.items():
        maps = known.maps(name, tensor, acts.describe(name), input_size)
        if maps is not None:
            paths = [out_dir / item / known.rows[name]["file"] for item in items] if out_dir else None
            jobs.append((name, pool.submit(_render_layer, maps, options, name, paths, overwrite)))
    for name, job in jobs:
        for item, (meta, grid_or_file) in zip(items, job.result()):
            yield item, name, meta, grid_or_file


def _render_layer(maps: torch.Tensor, options: RenderOptions, layer: str, paths: Optional[list[Path]], overwrite: bool):
    """Render one layer's grids (one per input) and write them when ``paths`` are given.

    Runs in a worker thread: numpy's passes and the PNG deflate release the GIL, so layers
    render and encode in parallel while the main thread moves on.
    """
    grids = render_grids(maps, options, layer=layer)
    if paths is None:
        return [(grid.meta.to_dict(), grid) for grid in grids]
    return [(grid.meta.to_dict(), grid.save(path, overwrite=overwrite)) for grid, path in zip(grids, paths)]
