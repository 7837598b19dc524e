"""The scan of one shard: batches through the model, every layer's statistics, checkpoints, resume.

:func:`scan_shard` runs the shard's batches from where its state file left off, through a
:class:`~layerscope.capturing.Recorder`, into one :class:`~layerscope.stats.ResponseStats` per
layer (reductions batched on the activations' device; each batch's run in a background thread while
the next batch is read, in order, one batch at a time), and writes the state atomically every
``save_every`` batches and at the end. Batches fall on fixed shard positions and every
reduction is deterministic, so a scan killed at any moment and run again ends with the same
bytes as one that was never stopped.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import torch

from ..capturing import Recorder
from ..core.layout import Maps, TokenGeometry, to_maps
from ..errors import ImageError, InputError, LayoutError
from ..io.shard import Shard
from ..io.sources import Source
from ..run.options import RunOptions
from ..run.maps import describe_transform, transformed
from ..run.progress import Progress
from ..run.subject import Subject
from ..stats import ResponseStats
from ..stats._reduce import Scratch
from .receptive import receptive_fields
from .state import State, prune_sources, top_indices, write_state

__all__ = ["scan_shard"]


def _maps(tensor: torch.Tensor, module_type: str, layout: Optional[str], size: tuple,
          tokens: Optional[TokenGeometry] = None) -> Maps:
    """The layer's maps as ``show`` lays them out: a vector as (N, C, 1, 1), a token sequence with the model's
    own prefix tokens and grid (``tokens``, the capture's geometry; never a guess where the model has one)."""
    if tensor.dim() == 2 and layout in (None, "NC"):
        return Maps(tensor[:, :, None, None], "NC", tuple(tensor.shape))
    return to_maps(tensor, layout=layout, input_size=size, module_type=module_type,
                   tokens=tokens if tensor.dim() == 3 else None)


class _Layers:
    """The accumulators of every captured layer, made on the first batch (or rebuilt from a state)."""

    def __init__(self, state: State, layouts: dict, k: int, edges: Any, active: float, transforms: dict) -> None:
        self.state, self.layouts, self.k, self.edges, self.active = state, layouts, k, edges, active
        self.transforms = transforms  # {layer: maps -> maps}: a dictionary's latents scanned as the layer's channels
        self.scratch = Scratch()
        self.skip: set[str] = set(state.meta["dropped"])

    def add(self, acts: Any, index: torch.Tensor, inputs: torch.Tensor, model: torch.nn.Module) -> None:
        meta, layers = self.state.meta, self.state.layers
        size = tuple(inputs.shape[-2:])
        fresh = not meta.get("layers")
        described = []
        for name, tensor in acts.items():
            if name in self.skip:
                continue
            info = acts.info[name]
            if not tensor.is_floating_point():
                self._drop(name, f"{name}: not scanned (a {tensor.dtype} tensor of shape {tuple(tensor.shape)})")
                continue
            try:
                laid = _maps(tensor, info.module_type, self.layouts.get(name), size, acts.tokens)
            except LayoutError as err:
                self._drop(name, f"{name}: not scanned: {err}")
                continue
            maps = laid.maps
            if name in self.transforms:
                maps = transformed(name, self.transforms[name], maps)
            if name not in layers:
                if not fresh:
                    raise InputError(f"Layer {name!r} gave no output on earlier batches; a scan needs the same layers "
                                     "on every input.")
                layers[name] = ResponseStats(maps.shape[1], k=self.k, edges=self.edges, active=self.active)
                described.append({"name": name, "module_type": info.module_type, "layout": laid.layout,
                                  "channels": int(maps.shape[1]), "map_size": list(maps.shape[-2:]),
                                  "notes": list(laid.notes),
                                  **(describe_transform(self.transforms[name]) if name in self.transforms else {})})
                if laid.tokens is not None:  # the model's prefix tokens and grid, for the crops' re-reading
                    described[-1]["tokens"] = laid.tokens.to_dict()
            layers[name].update(maps, index, scratch=self.scratch)
        if fresh:
            if not described:
                raise InputError("No selected layer gives feature maps to scan; choose other layers (--layers).")
            self._receptive(described, model, inputs[:1])
            meta["layers"] = described

    def _drop(self, name: str, note: str) -> None:
        self.skip.add(name)
        self.state.meta["dropped"].append(name)
        self.state.meta["notes"].append(note)

    def _receptive(self, described: list, model: torch.nn.Module, example: torch.Tensor) -> None:
        sizes = {d["name"]: (None if d["layout"] == "NC" else tuple(d["map_size"])) for d in described}
        layouts = {d["name"]: d["layout"] for d in described}
        fields = receptive_fields(model, sizes, example, layouts)
        for d in described:
            d["receptive"] = fields[d["name"]].to_dict()


def _remember_sources(meta: dict, layers: dict, batch: Any, source: Any) -> None:
    """Record where the inputs of this batch that entered a top-k list came from (index -> [source, label])."""
    sources = meta["sources"]
    here = {int(i): label for i, label in zip(batch.index.tolist(), batch.labels)}
    for index in top_indices(layers) & here.keys():
        key = str(index)
        if key not in sources:
            sources[key] = [source.source_of(index), here[index]]


def _save(state: State, path: Path) -> None:
    prune_sources(state)
    write_state(state, path)


def scan_shard(subject: Subject, source: Source, state: State, path: Path, *, shard: Shard, run: RunOptions,
               save_every: int, progress: Progress) -> State:
    """Scan ``shard`` of ``source`` through the subject's model and layers from ``state`` (fresh or resumed),
    ``run.batch_size`` inputs a batch read by ``run.workers`` processes, saving to ``path`` every
    ``save_every`` batches; returns the final state."""
    meta = state.meta
    if meta["complete"]:
        return state
    model = subject.module
    layers = _Layers(state, dict(subject.layouts), meta["top_k"], meta["edges"], meta["active"], subject.transforms)
    start = meta["done"]["batches"]

    def reduce(batch: Any, acts: Any) -> None:  # everything that changes the state, batch after batch in order
        meta["skipped"].extend([index, source.source_of(index), reason] for index, reason in batch.skipped)
        if acts is not None:
            layers.add(acts, batch.index, batch.inputs, model)
            meta["inputs"] += len(batch.index)
            _remember_sources(meta, state.layers, batch, source)
        meta["done"]["batches"] += 1
        meta["done"]["positions"] += batch.positions

    with Recorder(model, subject.layers) as rec, _Behind() as behind:
        for given, batch in enumerate(source.batches(shard, start, run.batch_size, run.workers), start + 1):
            progress.start()  # its forward and the wait for the previous batch's reductions: the estimate's time
            if batch.skipped and run.strict:
                index, reason = batch.skipped[0]
                raise ImageError(f"{source.source_of(index)}: {reason} (--strict stops at the first unreadable input)")
            behind.wait()  # the previous batch's reductions ran while this one was read
            acts = None
            if batch.inputs is not None:
                _check_input(meta, batch.inputs)
                acts = rec(batch.inputs)
            if meta.get("layers"):
                behind.submit(reduce, batch, acts)
            else:  # the first batch makes the accumulators and runs the receptive fields' forwards: here
                reduce(batch, acts)
            progress.update(batch.positions)
            if given % save_every == 0:
                behind.wait()
                _save(state, path)
        behind.wait()
    meta["complete"] = True
    meta["data"]["size"] = source.size
    _save(state, path)
    return state


class _Behind:
    """Runs each batch's reductions in one background thread while the next batch is read (decoding an image
    keeps one core busy and leaves the others idle), one batch at a time and in order, so the statistics are
    those of a plain loop; :meth:`wait` before the next forward and before the state is read or written."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="layerscope-scan")
        self.pending: Optional[Future] = None

    def __enter__(self) -> "_Behind":
        return self

    def submit(self, job: Any, *args: Any) -> None:
        self.wait()
        self.pending = self.pool.submit(_no_grad, job, *args)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()  # re-raises what the reductions raised

    def __exit__(self, *exc: Any) -> None:
        self.pool.shutdown(wait=True)


def _no_grad(job: Any, *args: Any) -> None:
    with torch.no_grad():  # grad mode is per thread
        job(*args)


def _check_input(meta: dict, inputs: torch.Tensor) -> None:
    shape = list(inputs.shape[1:])
    if meta.get("input_shape") is None:
        meta["input_shape"] = shape
    elif meta["input_shape"] != shape:
        raise InputError(
            f"An input of shape {tuple(shape)} after inputs of shape {tuple(meta['input_shape'])}: a scan needs one "
            "input size (set --size N, or give the model a preprocessing with a crop)."
        )
