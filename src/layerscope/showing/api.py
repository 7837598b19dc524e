"""``layerscope.show``: channel grids and views of chosen layers for a set of inputs, as PNG files + an index.

>>> import torch, torch.nn as nn, tempfile
>>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
>>> result = show(model, torch.randn(2, 3, 16, 16), out=tempfile.mkdtemp() + "/maps")
>>> [p.relative_to(result.out).as_posix() for p in result.files["input-001"].values()]
['input-001/00_1.png', 'input-001/01_2.png']
>>> result.index.name
'index.json'

A consumer of the spine: the model is resolved once as a :class:`~layerscope.run.Subject`,
the inputs go through one :class:`~layerscope.run.Run`, each step's layers become maps through
:class:`~layerscope.run.LayerMaps`, the views come from :data:`~layerscope.render.views.VIEWS`,
and every file goes through one :class:`~layerscope.core.outputs.OutputFolder`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch

from .._version import __version__
from ..capturing.select import default_layers
from ..core.outputs import OutputFolder
from ..core.results import Result
from ..errors import InputError
from ..explain.attention import layer_attention
from ..explain.labels import channel_labels
from ..explain.ranking import rank_batch
from ..explain.targets import as_target
from ..io.feed import Feed
from ..io.predictions import describe_predictions
from ..render.grid import ChannelGrid
from ..render.normalize import shared_range
from ..render.options import RenderOptions
from ..render.png import encode_png
from ..render.views import VIEWS
from ..run.loop import Run, Step
from ..run.options import OutputOptions, RunOptions
from ..run.subject import Subject
from ..core.names import safe_name
from ..diagnosis.inputs import InputStats, first_inputs, input_findings
from ..diagnosis.provenance import preprocessings
from ..diagnosis.result import Finding
from ..diagnosis.thresholds import Thresholds
from ..io.feed import image_tensor
from .batch import STRIP_HEIGHT, Rendering, ShownLayers, render_step
from .options import ShowOptions

__all__ = ["show", "ShowResult", "ShowOptions", "DEFAULT_OPTIONS", "STRIP_HEIGHT", "MANY_LAYERS"]

DEFAULT_OPTIONS = RenderOptions(max_channels=64, caption=True, min_tile=32)  # the first 64 channels, captioned
MANY_LAYERS = 50  # a selection of more layers than this gets a note with a tighter pattern
TENSOR_NOTE = "tensor given: used as is, not preprocessed"


@dataclass
class ShowResult(Result):
    """What :func:`show` rendered: files per input and layer, layer metadata, skipped inputs.

    ``files[input][layer]`` is the PNG path (when ``out`` was given); ``grids[input][layer]``
    the :class:`~layerscope.render.ChannelGrid` (when ``out`` was None; :meth:`save` writes them
    later). ``options`` are the :class:`~layerscope.render.RenderOptions` used (with the shared
    ranges of ``normalize="global"``); :meth:`to_dict` is the content of ``index.json``. In Jupyter
    the result shows a table of thumbnails (registered by :mod:`layerscope.display`).
    """

    index_name = "index.json"

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
    input_findings: list[Finding] = field(default_factory=list)
    view_files: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)  # input -> view -> file(s)
    listed: Optional[list[str]] = field(default=None, repr=False)  # what the index lists, once written

    @property
    def count(self) -> int:
        """Grids rendered (files written or grids returned), not counting the other views."""
        return sum(len(v) for v in (self.files or self.grids).values())

    def _names(self) -> list[str]:
        """Every file of the result, relative to ``out`` (POSIX): grids, then the other views."""
        names = [path for entry in self.inputs for path in entry["files"].values()]
        return names + [path for entry in self.inputs for per_view in self.view_files.get(entry["name"], {}).values()
                        for path in (per_view.values() if isinstance(per_view, dict) else [per_view])]

    @property
    def written(self) -> list[str]:
        """Every file written, relative to ``out`` (POSIX), the index last (empty when nothing was written)."""
        return self._names() + ["index.json"] if self.out is not None else []

    def to_dict(self) -> dict:
        """The content of ``index.json``: version, model, preprocessing, render options, layers, inputs, skips."""
        inputs = [{**entry, "views": self.view_files.get(entry["name"], {})} for entry in self.inputs]
        return {
            "layerscope_version": __version__,
            "views": list(self.views),
            "model": self.model,
            "preprocessing": self.preprocessing,
            "input_shape": list(self.input_shape),
            "render": self.options.to_dict(),
            "layers": self.layers,
            "inputs": inputs,
            "skipped_inputs": [{"path": p, "reason": r} for p, r in self.skipped],
            "skipped_layers": [{"layer": n, "reason": r} for n, r in self.skipped_layers],
            "notes": self.notes,
            "input_findings": [f.to_dict() for f in self.input_findings],
            "files": list(self.listed) if self.listed is not None else self._names() if self.out is not None else [],
        }

    def summary(self) -> str:
        """One short paragraph: what was drawn, where, and what was skipped."""
        layers, inputs = len(self.layers), len(self.inputs)
        text = (f"{self.count} grids of {layers} layer{'s' * (layers != 1)} x {inputs} input{'s' * (inputs != 1)} "
                f"({', '.join(self.views)}) {f'in {self.out}' if self.out is not None else 'in memory'}.")
        if self.skipped:
            text += f" {len(self.skipped)} input{'s' * (len(self.skipped) != 1)} skipped (unreadable)."
        if self.skipped_layers:
            text += f" Layers skipped: {', '.join(name for name, _ in self.skipped_layers)}."
        guesses = [f"{entry['name']}: {entry['prediction']}" for entry in self.inputs if entry.get("prediction")]
        if guesses:
            text += f" Predicted {'; '.join(guesses[:3])}{' ...' if len(guesses) > 3 else ''}."
        return text

    def write_files(self, folder: OutputFolder) -> None:
        """Write the grids and views (from memory, or copied from ``out``) into ``folder``."""
        folder.claim([entry["name"] for entry in self.inputs])
        for entry in self.inputs:  # in the order of the index: the grids, then the other views
            for layer, path in entry["files"].items():
                grid = self.grids.get(entry["name"], {}).get(layer)
                folder.write(grid.png_bytes() if grid is not None else (self.out / path).read_bytes(), path)
        for entry in self.inputs:
            name = entry["name"]
            for view, per_view in self.view_files.get(name, {}).items():
                pictures = entry["views"][view]
                pairs = per_view.items() if isinstance(per_view, dict) else [(None, per_view)]
                for layer, path in pairs:
                    picture = pictures[layer] if layer is not None else pictures
                    data = (self.out / path).read_bytes() if isinstance(picture, str) else encode_png(picture)
                    folder.write(data, path)

    def __repr__(self) -> str:
        where = f" in {self.out}" if self.out else ""
        skipped = f", {len(self.skipped)} inputs skipped" if self.skipped else ""
        return f"ShowResult({self.count} grids of {len(self.layers)} layers x {len(self.inputs)} inputs{where}{skipped})"


def show(
    model: Any,
    images: Any,
    layers: Any = None,
    out: Union[str, Path, OutputOptions, None] = None,
    *,
    options: Optional[RenderOptions] = None,
    run: Optional[RunOptions] = None,
    show: Optional[ShowOptions] = None,
    **fields: Any,
) -> ShowResult:
    """Capture ``layers`` of ``model`` on ``images`` and render the chosen views of each (layer, input).

    ``model``: a spec (``"torchvision:resnet18"``, ``"builtin:digits"``), an ``nn.Module``, a
    ``LoadedModel`` or a :class:`~layerscope.run.Subject` (for other preprocessing:
    ``Subject.of(model, preprocessing=...)``; a bare module's is assumed, see
    :mod:`layerscope.io.resolve`). ``images``: anything :class:`~layerscope.io.feed.Feed` takes:
    files / directories / globs / PIL images (unreadable files are skipped and listed), or a tensor,
    used as is. ``layers``: as :func:`~layerscope.capturing.select_layers` (default: what
    follows each convolution's normalization and activation; token models such as ViT: the block outputs).

    Three option objects, each of whose fields may also be given as a keyword that replaces it:

    - ``options`` (:class:`~layerscope.render.RenderOptions`, how grids are drawn; None:
      :data:`DEFAULT_OPTIONS`: at most 64 channels, captioned, tiles at least 32 pixels):
      ``show(model, img, out="maps", max_channels=12)``. ``normalize="global"`` without
      ``value_range`` shares one min-max per layer across all inputs (a second forward pass);
      ``max_channels=0`` renders every channel (the atlas).
    - ``show`` (:class:`~layerscope.showing.options.ShowOptions`): ``views`` (``grid``: channel grids
      ``out/<input>/<NN>_<layer>.png``; ``mean``, ``overlay``, ``pca``, ``figure``, ``importance``:
      ``<NN>_<layer>.<view>.png``; ``progression``: ``out/<input>/progression.png``; see
      :data:`~layerscope.render.views.VIEWS`), ``names`` (display names for captions; captions say
      "random init" when the weights are), ``layouts``, ``rank="importance"`` with ``target`` (each
      grid ordered by the channels' importance, most important first, one extra forward and backward
      per batch; the view ``importance`` draws the Grad-CAM style heat map of the top channels),
      ``threads`` and ``channel_labels=True`` (each grid file with its channels' labels from the probe set below it).
    - ``run`` (:class:`~layerscope.run.RunOptions`): ``batch_size``, ``device``, ``strict`` ...

    ``out`` (or an :class:`~layerscope.run.OutputOptions`; keyword ``overwrite=True``):
    ``out/index.json`` lists every file; a later run replaces the files an earlier run listed there,
    never other files unless ``overwrite`` (see :mod:`layerscope.core.outputs`). Without ``out`` the
    pictures are returned (``result.grids``; the other views in ``result.inputs[i]["views"]``) and
    ``result.save(out)`` writes them.
    """
    render, run_options, chosen, output = _options(options, run, show, out, fields)
    _check_rank(chosen.rank, render)
    if isinstance(images, torch.Tensor) and images.dim() == 3:
        images = images.unsqueeze(0)  # one image (C, H, W)
    _checked(images, run_options)  # a missing file fails before any model is built or downloaded
    subject = Subject.of(model, layers, layouts=chosen.layouts or None, device=run_options.device)
    folder = OutputFolder(output.path, ShowResult.index_name, overwrite=output.overwrite) if output.path else None
    target = as_target(chosen.target, subject.classes) if chosen.importance else None
    seen = _Seen(ShownLayers(subject.layouts, subject.transforms))
    checked = _Inputs(subject)
    with ThreadPoolExecutor(chosen.threads or min(8, os.cpu_count() or 1)) as pool:
        steps, record = _steps(subject, images, run_options, render)
        if render.normalize == "global" and render.value_range is None:
            render = render.replace(value_range=record.ranges)
        pre = subject.preprocessing
        r = Rendering(render, chosen.views, chosen.names, subject.random_init, folder, pool, pre,
                      subject.spec + (" (random init)" if subject.random_init else ""), chosen.rank, subject.classes,
                      _labels(subject, chosen, run_options))
        for step in steps:
            items = seen.inputs(_image_batch(step), record.feed, step.start)
            checked.update(step)
            if folder is not None:
                folder.claim(items)
            seen.predictions += step.predictions()
            ranked = None
            if chosen.importance:
                ranked = rank_batch(subject.loaded, step.batch, subject.layers, target=target,
                                    top_k=render.max_channels or None, layouts=subject.layouts)
                seen.targets += ranked.target
            attended = layer_attention(subject, step.batch, subject.layers, chosen.views) if chosen.attention else None
            for item, name, meta, grid_or_file, pictures in render_step(step, items, seen.known, r, ranked, attended):
                seen.add(item, name, meta, grid_or_file, pictures)
    result = seen.result(folder, render, chosen.views, subject, record.feed)
    result.input_findings = checked.findings(record.feed)
    if len(subject.layers) > MANY_LAYERS:
        result.notes.append(many_layers_note(subject.module, len(subject.layers)))
    if folder is not None:
        order = {name: i for i, name in enumerate(result.written)}  # threads finish in any order; the index does not
        folder.written.sort(key=lambda name: order.get(name, len(order)))
        result.listed = folder.finish(result.to_dict())["files"]  # compact: the C encoder (indent= is pure Python)
        result.index = folder.out / folder.index
    return result


def _labels(subject: Subject, chosen: ShowOptions, run: RunOptions) -> Optional[dict]:
    """Per layer, each channel's label from the probe set (``channel_labels=True``), else None."""
    if not chosen.channel_labels:
        return None
    return channel_labels(subject, progress=run.progress).layers


def _options(options: Optional[RenderOptions], run: Optional[RunOptions], show: Optional[ShowOptions],
             out: Union[str, Path, OutputOptions, None], fields: dict[str, Any]):
    """The four option objects, each with the keywords that name its fields; the rest are render options."""
    shown, rest = ShowOptions.split(fields)
    running, rest = RunOptions.split(rest)
    written, rest = OutputOptions.split(rest)
    if "out" in written:
        raise InputError("Give out as the fourth argument (or an OutputOptions), not as a keyword of the options.")
    render = RenderOptions.of(DEFAULT_OPTIONS if options is None else options, **rest)
    output = out if isinstance(out, OutputOptions) else OutputOptions(out=out)
    return render, RunOptions.of(run, **running), ShowOptions.of(show, **shown), output.replace(**written)


def _checked(images: Any, run: RunOptions) -> None:
    if isinstance(images, Feed):
        images.check()
    else:
        Feed(images, recursive=run.recursive).check()


@dataclass
class _Record:
    """The feed of record (sources, notes, skipped inputs) and the global ranges of a first pass."""

    feed: Feed
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


def _steps(subject: Subject, images: Any, options: RunOptions, render: RenderOptions) -> tuple[Any, _Record]:
    """The run to render, and its record. ``normalize="global"`` without a range needs every layer's min-max over
    all inputs first: a first run keeps the batches and takes the ranges, the second runs on the kept batches."""
    if render.normalize != "global" or render.value_range is not None:
        steps = Run(subject, images, options, desc="show")
        return steps, _Record(steps.feed)
    first = Run(subject, images, options, desc="show (ranges)")
    kept: list[Any] = []
    ranges: dict[str, tuple[float, float]] = {}
    for step in first:
        kept.append(step.batch)
        for name, tensor in step.acts.items():
            lo, hi = shared_range([tensor], "layer")
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(lo, old[0]), max(hi, old[1]))
    return Run(subject, kept, options.replace(batch_size=max([len(b) for b in kept] or [1])), desc="show"), \
        _Record(first.feed, ranges)


def _image_batch(step: Step) -> Step:
    batch = step.batch
    if not isinstance(batch, torch.Tensor) or batch.dim() != 4:
        what = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
        raise InputError(f"show renders images: inputs must be (N, C, H, W) or (C, H, W) tensors or image "
                         f"files, got {what}. For other inputs use layerscope.capture and layerscope.render.")
    return step


class _Inputs:
    """diagnose's cheap input checks on what show feeds: streamed statistics and the first few inputs (the
    BatchNorm fingerprint's sample; its forward stops at the first BatchNorm layers)."""

    def __init__(self, subject: Subject, t: Thresholds = Thresholds()) -> None:
        own, used, certain = preprocessings(subject.loaded)
        expected = own if certain or used is None else used
        floor = t.constant_std / min(expected.std) if expected is not None else t.constant_std
        self.subject, self.t, self.stats, self.kept = subject, t, InputStats(t.grayscale_corr, floor, t.input_noise), []

    def update(self, step: Step) -> None:
        image = image_tensor(step.batch)
        if image is None or image.dim() != 4 or not image.is_floating_point():
            return
        self.stats.update(image)
        if sum(len(b) for b in self.kept) < self.t.bn_inputs:
            self.kept.append(image.detach())

    def findings(self, feed: Feed) -> list[Finding]:
        if self.stats.channels is None:
            return []
        raw = [(r.path, r.original_mode, r.original_size) for r in feed.images]
        found, _ = input_findings(self.subject.loaded, self.stats, first_inputs(self.kept, self.t.bn_inputs), self.t,
                                  raw_images=raw or None, decoded=bool(raw) and len(raw) == feed.count)
        return found


class _Seen:
    """What one show run collects: per input its name, grid metadata, grids or files, views and predictions."""

    def __init__(self, known: ShownLayers) -> None:
        self.known = known
        self.names: list[str] = []
        self.taken: set[str] = set()
        self.metas: dict[str, dict] = {}
        self.made: dict[str, dict[str, Any]] = {}  # input -> layer -> grid, or the file it was written to
        self.views: dict[str, dict[str, Any]] = {}  # input -> view -> {layer: picture} (or picture)
        self.paths: dict[str, dict[str, Any]] = {}  # input -> view -> {layer: file} (or file), also in memory
        self.predictions: list = []
        self.targets: list[int] = []  # the class each input's importance was taken for (rank / importance view)
        self.input_shape: tuple[int, ...] = ()  # of one input, as the model took it

    def inputs(self, step: Step, feed: Feed, start: int) -> list[str]:
        """The names of the step's inputs (its folder under ``out``): the file's stem, made unique, or input-NNN."""
        items = []
        self.input_shape = self.input_shape or tuple(step.batch.shape[1:])
        for i, label in enumerate(feed.sources[start : start + len(step)], start):
            base = safe_name(Path(label).stem) if not label.startswith("<") else f"input-{i:03d}"
            name, k = base, 2
            while name in self.taken:
                name, k = f"{base}-{k}", k + 1
            self.taken.add(name)
            items.append(name)
            self.metas[name], self.views[name], self.paths[name] = {}, {}, {}
        self.names += items
        return items

    def add(self, item: str, layer: Optional[str], meta, grid_or_file, pictures: dict) -> None:
        if layer is None:  # the per-input views (progression)
            self.views[item].update(pictures)
            self.paths[item].update({view: f"{item}/{VIEWS[view].file_name('')}" for view in pictures})
            return
        stem = self.known.rows[layer]["file"][: -len(".png")]
        for view, value in pictures.items():
            self.views[item].setdefault(view, {})[layer] = value
            self.paths[item].setdefault(view, {})[layer] = f"{item}/{VIEWS[view].file_name(stem)}"
        if meta is not None:
            self.metas[item][layer] = meta
            self.made.setdefault(item, {})[layer] = grid_or_file

    def result(self, folder: Optional[OutputFolder], options: RenderOptions, views: tuple[str, ...],
               subject: Subject, feed: Feed) -> ShowResult:
        notes = [list(r.notes) for r in feed.images] if feed.images else [[TENSOR_NOTE]] * len(self.names)
        entries: list[dict[str, Any]] = []
        for n, src, note, top in zip(self.names, feed.sources, notes, self.predictions):
            entry: dict[str, Any] = {"name": n, "source": src, "notes": note, "grids": self.metas[n],
                     "files": {layer: f"{n}/{self.known.rows[layer]['file']}" for layer in self.made.get(n, {})},
                     "views": self.views[n]}
            if self.targets:
                entry["importance_target"] = self.targets[len(entries)]
            if top:
                entry["predictions"] = [{"class": c, "probability": p} for c, p in top]
                entry["prediction"] = describe_predictions(top)
            entries.append(entry)
        out = folder.out if folder is not None else None
        files = {n: {layer: out / path for layer, path in self.made[n].items()} for n in self.made} if out else {}
        return ShowResult(
            out, None, options, subject.loaded.to_dict(), subject.preprocessing.to_dict(), self.input_shape,
            files=files, grids={} if out else self.made, layers=list(self.known.rows.values()), inputs=entries,
            skipped=list(feed.skipped), skipped_layers=list(self.known.skipped.items()), views=views,
            view_files=self.paths,
        )


def _check_rank(rank: Optional[str], options: RenderOptions) -> Optional[str]:
    if rank is not None and (options.channels is not None or options.order != "index"):
        given = f"channels={list(options.channels)}" if options.channels is not None else f"order={options.order!r}"
        raise InputError(f"rank={rank!r} orders the channels itself; {given} would order them too. Leave out one "
                         "of them (CLI: --rank, --order).")
    return rank


def many_layers_note(module: torch.nn.Module, count: int) -> str:
    """A note for a selection of more than :data:`MANY_LAYERS` layers, with a tighter pattern to try."""
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
