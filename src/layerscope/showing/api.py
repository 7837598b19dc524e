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

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch

from ..core.outputs import OutputFolder
from ..run.maps import LayerMaps
from ..errors import InputError
from ..io.resolve import resolve_model
from ..core.layout import canonical_layout
from ..render.grid import ChannelGrid
from ..render.options import RenderOptions
from ..render.views import check_views

__all__ = ["show", "ShowResult"]

STRIP_HEIGHT = 8  # pixels a 1-pixel-high map (a Conv1d channel, a vector) is stretched to
DEFAULT_OPTIONS = RenderOptions(max_channels=64, caption=True, min_tile=32)  # the first 64 channels, captioned
MANY_LAYERS = 50  # a selection of more layers than this gets a note with a tighter pattern


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
    views: tuple[str, ...] = ("grid",)
    notes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Grids rendered (files written or grids returned), not counting the other views."""
        return sum(len(v) for v in (self.files or self.grids).values())

    @property
    def written(self) -> list[str]:
        """Every file written, relative to ``out`` (POSIX), the index last."""
        names = [path for entry in self.inputs for path in entry["files"].values()]
        names += [path for entry in self.inputs for per_view in entry.get("views", {}).values()
                  for path in (per_view.values() if isinstance(per_view, dict) else [per_view])]
        return names + (["index.json"] if self.out is not None else [])

    def to_dict(self) -> dict:
        """The content of ``index.json``: version, model, preprocessing, render options, layers, inputs, skips."""
        from .._version import __version__

        return {
            "layerscope_version": __version__,
            "views": list(self.views),
            "model": self.model,
            "preprocessing": self.preprocessing,
            "input_shape": list(self.input_shape),
            "render": self.options.to_dict(),
            "layers": self.layers,
            "inputs": self.inputs,
            "skipped_inputs": [{"path": p, "reason": r} for p, r in self.skipped],
            "skipped_layers": [{"layer": n, "reason": r} for n, r in self.skipped_layers],
            "notes": self.notes,
            "files": self.written[:-1] if self.out is not None else [],
        }

    def _repr_html_(self) -> str:
        from ..render.repr import image_table

        notes = [f"skipped {p}: {r}" for p, r in self.skipped] + [f"skipped layer {n}: {r}" for n, r in self.skipped_layers]
        rows = [(entry["name"], entry["source"]) for entry in self.inputs]
        columns = [row["name"] for row in self.layers]
        return image_table(self._pictures(), rows, columns, title=repr(self), notes=notes)

    def _pictures(self) -> dict[str, dict[str, Any]]:
        """Per input and layer, the picture a table shows: the grid, else the first other view drawn."""
        pictures: dict[str, dict[str, Any]] = {}
        for entry in self.inputs:
            shown = dict((self.files or self.grids).get(entry["name"], {}))
            for view in ("overlay", "mean", "pca"):
                for layer, picture in entry.get("views", {}).get(view, {}).items():
                    shown.setdefault(layer, self.out / picture if self.out is not None else picture)
            pictures[entry["name"]] = shown
        return pictures

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
    from ..io.feed import Feed

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


def _checked(images: Any) -> None:
    from ..io.feed import Feed

    Feed.of(images).check()


def _global_ranges(rec, batches) -> dict[str, tuple[float, float]]:
    """Min-max of every captured layer over all inputs (a first pass for ``normalize='global'``)."""
    from ..render.normalize import shared_range

    ranges: dict[str, tuple[float, float]] = {}
    for batch in batches:
        for name, tensor in rec(batch).items():
            lo, hi = shared_range([tensor], "layer")
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(lo, old[0]), max(hi, old[1]))
    return ranges


class _Layers(LayerMaps):
    """The layers met so far, each with its grid's file name; 1-D strips stretched to a visible height."""

    def __init__(self, layouts: Optional[Mapping[str, str]]) -> None:
        super().__init__(layouts)
        self.digits = 2  # of the layer number in file names; widened for models with > 100 layers

    def added(self, name: str, row: dict) -> None:
        row["file"] = f"{len(self.rows) - 1:0{self.digits}d}_{_safe(name)}.png"

    def maps(self, name: str, tensor: torch.Tensor, record: Mapping[str, Any], input_size: Any):  # type: ignore[override]
        maps = super().maps(name, tensor, record, input_size)
        if maps is None:
            return None
        if maps.maps.shape[-2] == 1:  # 1-D strips (Conv1d, vectors): stretch to a visible height, a view
            return maps.maps.expand(-1, -1, STRIP_HEIGHT, -1)
        return maps.maps


def show(
    model: Any,
    images: Any,
    layers: Any = None,
    out: Union[str, Path, None] = None,
    *,
    views: Union[str, Sequence[str]] = ("grid",),
    names: Optional[Mapping[str, str]] = None,
    options: Optional[RenderOptions] = None,
    layouts: Optional[Mapping[str, str]] = None,
    overwrite: bool = False,
    batch_size: int = 8,
    threads: Optional[int] = None,
    preprocessing: Any = None,
    rank: Optional[str] = None,
    target: Union[None, int, str] = None,
    **option_fields: Any,
) -> ShowResult:
    """Capture ``layers`` of ``model`` on ``images`` and render the chosen ``views`` of each (layer, input).

    ``model``: a spec (``"torchvision:resnet18"``, ``"builtin:digits"``), an ``nn.Module`` or a
    ``LoadedModel`` (``preprocessing=`` replaces its preprocessing; a bare module's is assumed, see
    :mod:`layerscope.io.resolve`); ``images``: files / directories / globs / PIL images (unreadable
    files are skipped and listed; for ``strict``, ``recursive`` or ``max_pixels`` pass a
    :class:`~layerscope.io.feed.Feed` made with them), or a tensor, used as is. ``layers``: as
    :func:`~layerscope.capturing.select_layers` (default: every convolution; for token models such as
    ViT, the block outputs).

    ``views`` (:data:`~layerscope.render.views.VIEWS`): ``grid`` (channel grids,
    ``out/<input>/<NN>_<layer>.png``), ``mean``, ``overlay`` (the mean map over the image the model
    saw, after its resize and crop), ``pca``, ``figure`` (``<NN>_<layer>.<view>.png``) and
    ``progression`` (``out/<input>/progression.png``). ``names`` maps layer names to display names
    for captions (``{"features.0": "conv1_1"}``); captions say "random init" when the weights are.
    ``out/index.json`` lists every file; a later run may replace the files an earlier run listed
    there, never other files unless ``overwrite=True``. Without ``out`` the pictures are returned
    (``result.grids``; the other views in ``result.inputs[i]["views"]``).

    How grids are drawn: ``options`` (a :class:`~layerscope.render.RenderOptions`; None:
    :data:`DEFAULT_OPTIONS`: at most 64 channels, captioned, tiles at least 32 pixels), any of whose
    fields may be given as a keyword that replaces it: ``show(model, img, out="maps", max_channels=12)``.
    ``normalize="global"`` without ``value_range`` shares one min-max per layer across all inputs
    (a second forward pass); ``value_range`` may also map layer names to ranges.
    ``max_channels=0`` renders every channel (the atlas). ``layouts`` maps layer names to
    :func:`~layerscope.core.layout.to_maps` layouts (how to read a layer's tensor).

    ``rank="importance"`` orders each grid by the channels' importance for ``target`` (a class
    index, or a class name where the model's classes are known; None: each input's top prediction),
    most important first (:func:`layerscope.explain.attribution`, one extra forward and backward per
    batch); the view ``importance`` draws the Grad-CAM style heat map of the grid's top
    ``max_channels`` channels over the image the model saw (:mod:`layerscope.explain.ranking`).
    """
    from .batch import Rendering, render_batch
    from ..capturing.select import default_layers
    from ..capturing import Recorder, select_layers

    options = RenderOptions.of(DEFAULT_OPTIONS if options is None else options, **option_fields)
    views = check_views(views)
    rank = _check_rank(rank, options)
    layouts = {name: canonical_layout(layout) for name, layout in (layouts or {}).items()}
    _checked(images)  # a missing file fails before any model is built or downloaded
    loaded = resolve_model(model, preprocessing=preprocessing)
    chosen = select_layers(loaded.module, layers if layers is not None else default_layers(loaded.module))
    batches, sources, notes, feed = _feed(images, loaded, batch_size)
    inputs = _input_names(sources)
    out_dir = Path(out) if out is not None else None
    folder = OutputFolder(out_dir, "index.json", overwrite=overwrite) if out_dir is not None else None
    if folder is not None:
        folder.claim(inputs)
    run = _Run(inputs, _Layers(layouts))
    pre = loaded.preprocessing
    ranked = _ranked(loaded, batches, chosen, target, options, layouts) if rank or "importance" in views else None
    with Recorder(loaded.module, chosen) as rec, ThreadPoolExecutor(threads or min(8, os.cpu_count() or 1)) as pool:
        if options.normalize == "global" and options.value_range is None:
            options = options.replace(value_range=_global_ranges(rec, batches))
        r = Rendering(options, views, dict(names or {}), loaded.weights is None, out_dir, overwrite, pool, pre.mean,
                      pre.std, loaded.spec + (" (random init)" if loaded.weights is None else ""), rank, loaded.classes)
        start = 0
        for number, batch in enumerate(batches):
            items, start = inputs[start : start + len(batch)], start + len(batch)
            acts = rec(batch)
            run.predictions += loaded.predictions(acts.output) or [None] * len(items)
            scores = ranked[number] if ranked else None
            run.targets += scores.target if scores else []
            for item, name, meta, grid_or_file, files in render_batch(acts, batch, items, run.known, r, scores):
                run.add(item, name, meta, grid_or_file, files)
    result = run.result(out_dir, options, views, loaded, batches, feed, sources, notes)
    if len(chosen) > MANY_LAYERS:
        result.notes.append(many_layers_note(loaded.module, len(chosen)))
    if folder is not None:
        folder.written += result.written[:-1]
        folder.finish(result.to_dict())  # compact: the C encoder (indent= is pure Python)
        result.index = folder.out / folder.index
    return result


class _Run:
    """What one show run collects: per input the grid metadata, grids or files, views and predictions."""

    def __init__(self, inputs: list[str], known: _Layers) -> None:
        self.inputs, self.known = inputs, known
        self.metas: dict[str, dict] = {n: {} for n in inputs}
        self.made: dict[str, dict[str, Any]] = {}  # input -> layer -> grid, or the file it was written to
        self.views: dict[str, dict[str, Any]] = {n: {} for n in inputs}  # input -> view -> {layer: file} (or file)
        self.predictions: list = []
        self.targets: list[int] = []  # the class each input's importance was taken for (rank / importance view)

    def add(self, item: str, layer: Optional[str], meta, grid_or_file, files: dict) -> None:
        if layer is None:  # the progression strip of the input
            self.views[item].update(files)
            return
        for view, value in files.items():
            self.views[item].setdefault(view, {})[layer] = value
        if meta is not None:
            self.metas[item][layer] = meta
            self.made.setdefault(item, {})[layer] = grid_or_file

    def result(self, out_dir, options, views, loaded, batches, feed, sources, notes) -> ShowResult:
        from ..io.predictions import describe_predictions

        entries = []
        for n, src, note, top in zip(self.inputs, sources, notes, self.predictions):
            entry = {"name": n, "source": src, "notes": note, "grids": self.metas[n],
                     "files": {k: f"{n}/{p.name}" for k, p in self.made.get(n, {}).items()} if out_dir else {},
                     "views": self.views[n]}
            if self.targets:
                entry["importance_target"] = self.targets[len(entries)]
            if top:
                entry["predictions"] = [{"class": c, "probability": p} for c, p in top]
                entry["prediction"] = describe_predictions(top)
            entries.append(entry)
        return ShowResult(
            out_dir, None, options, loaded.to_dict(), loaded.preprocessing.to_dict(), tuple(batches[0].shape[1:]),
            files=self.made if out_dir else {}, grids={} if out_dir else self.made,
            layers=list(self.known.rows.values()), inputs=entries, skipped=list(feed.skipped),
            skipped_layers=list(self.known.skipped.items()), views=views,
        )


def _check_rank(rank: Optional[str], options: RenderOptions) -> Optional[str]:
    from ..explain.ranking import check_rank

    if check_rank(rank) and (options.channels is not None or options.order != "index"):
        given = f"channels={list(options.channels)}" if options.channels is not None else f"order={options.order!r}"
        raise InputError(f"rank={rank!r} orders the channels itself; {given} would order them too. Leave out one "
                         "of them (CLI: --rank, --order).")
    return rank


def _ranked(loaded, batches, layers, target, options: RenderOptions, layouts) -> list:
    """Per batch, the channels' importance order and heat maps (:func:`~layerscope.explain.ranking.rank_batch`)."""
    from ..explain.ranking import class_index, rank_batch

    index = class_index(target, loaded.classes)
    return [rank_batch(loaded, batch, layers, target=index, top_k=options.max_channels or None, layouts=layouts)
            for batch in batches]


def many_layers_note(module, count: int) -> str:
    """A note for a selection of more than :data:`MANY_LAYERS` layers, with a tighter pattern to try."""
    from ..capturing.select import default_layers

    blocks = default_layers(module)
    if blocks:
        hint = f"the block outputs ({blocks[0]} ... {blocks[-1]}, the default)"
    else:
        top = [name for name, child in module.named_children() if any(True for _ in child.children())]
        hint = f"--layers '{top[0]}.*'" if top else "--layers with exact names from `layerscope layers`"
        convs = [n for n, m in module.named_modules() if type(m).__name__.startswith("Conv")]
        if len(convs) > 3:
            hint += f", or a few from shallow to deep: --layers {convs[0]},{convs[len(convs) // 2]},{convs[-1]}"
    return f"{count} layers selected (more than {MANY_LAYERS}: that many pictures are hard to read); try {hint}."
