"""A scan's result read back: per-layer arrays, metadata, and the top-k entries of every channel.

>>> import tempfile, torch, torch.nn as nn, layerscope
>>> out = tempfile.mkdtemp()
>>> _ = layerscope.scan(nn.Conv2d(1, 2, 3, padding=1), torch.randn(6, 1, 8, 8), out=out, k=2, progress=False)
>>> stats = load_stats(out)
>>> layer = stats["conv" if "conv" in stats else stats.layers[0]]
>>> layer.channels, layer.mean.shape, len(layer.entries(0))
(2, (2,), 2)
>>> entry = layer.entries(0)[0]
>>> entry.rank, entry.source, entry.box == layer.receptive.box(*entry.position)
(0, 'tensor[...]', True)

:class:`ScanStats` is what :func:`~layerscope.load_stats` and :func:`~layerscope.scan` return;
``stats[layer]`` is a :class:`LayerStats` with numpy arrays of length C (``count``, ``mean``,
``var``, ``std``, ``min``, ``max``, ``active``, ``active_inputs``), the peak histogram
(``peaks``), the top-k arrays (``top``, ``top_mean``) and ``entries(channel, by)``: the k best
inputs of a channel as :class:`TopEntry` records (input index, score, position, receptive-field
box, source path or frame, label), the data the HTML report and the explorer show.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

from ..core.examples import Example
from ..core.outputs import OutputFolder
from ..core.results import Result
from ..errors import InputError, LayerNotFoundError, did_you_mean
from .crops import render_crop, render_crops
from .receptive import Receptive
from .state import STATE_FILE, State, read_state, state_path, write_state

__all__ = ["ScanStats", "LayerStats", "TopEntry", "load_stats"]


@dataclass(frozen=True)
class TopEntry:
    """One of the k best inputs of a channel: ``rank`` 0 is the best. ``position`` is (row, col) in the layer's
    map, ``box`` (x0, y0, x1, y1) the input pixels it sees (x1, y1 exclusive), ``source`` the file (or
    ``video#frame=n``, ``dataset[i]``), ``label`` the class index and ``class_name`` its name, when known."""

    layer: str
    channel: int
    rank: int
    by: str
    index: int
    score: float
    position: tuple[int, int]
    box: tuple[int, int, int, int]
    source: str
    label: Optional[int] = None
    class_name: Optional[str] = None

    def to_dict(self) -> dict:
        return {field: getattr(self, field) for field in self.__dataclass_fields__}


class LayerStats:
    """One layer's results: numpy arrays per channel and its top-k lists (see the module docstring)."""

    count: np.ndarray  # the fields of the layer's summary (stats.responses.ResponseSummary), set in __init__
    mean: np.ndarray
    var: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    active: np.ndarray
    active_inputs: np.ndarray
    peaks: Any
    top: Any
    top_mean: Any
    activity: Any

    def __init__(self, name: str, meta: dict, summary: Any, scan: "ScanStats") -> None:
        self.name, self.meta, self.summary, self._scan = name, meta, summary, scan
        self.module_type, self.layout = meta.get("module_type"), meta.get("layout")
        self.channels = int(meta["channels"])
        self.map_size = tuple(meta["map_size"])
        self.receptive = Receptive.from_dict(meta["receptive"])
        for field in ("count", "mean", "var", "std", "min", "max", "active", "active_inputs", "peaks", "top",
                      "top_mean", "activity"):
            setattr(self, field, getattr(summary, field))

    def __repr__(self) -> str:
        return f"LayerStats({self.name!r}, {self.channels} channels, map {self.map_size[0]}x{self.map_size[1]})"

    def entries(self, channel: int, by: str = "max") -> list[TopEntry]:
        """The top-k entries of ``channel``, best first, ranked by the map's ``"max"`` or ``"mean"``."""
        if not 0 <= int(channel) < self.channels:
            raise InputError(f"Layer {self.name!r} has channels 0..{self.channels - 1}; got {channel}.")
        if by not in ("max", "mean"):
            raise InputError(f"by={by!r}: rank by 'max' (the map's maximum) or 'mean'.")
        top = self.top if by == "max" else self.top_mean
        width = self.map_size[1]
        found = []
        for rank, (index, score, position) in enumerate(zip(top.index[channel], top.score[channel], top.position[channel])):
            if index < 0:
                break
            row, col = divmod(int(position), width)
            found.append(TopEntry(self.name, int(channel), rank, by, int(index), float(score), (row, col),
                                  self.receptive.box(row, col), *self._scan.source(int(index))))
        return found


class ScanStats(Result):
    """A scan result: ``stats[layer]`` -> :class:`LayerStats`, plus the metadata."""

    def __init__(self, state: State, path: Optional[Union[str, Path]] = None) -> None:
        self.state, self.path = state, None if path is None else Path(path)
        self.meta = state.meta
        described = {d["name"]: d for d in self.meta.get("layers") or []}
        self._layers = {name: LayerStats(name, described[name], stats.result(), self)
                        for name, stats in state.layers.items()}

    @property
    def layers(self) -> list[str]:
        return list(self._layers)

    def __getitem__(self, name: str) -> LayerStats:
        if name not in self._layers:
            raise LayerNotFoundError(f"No scanned layer {name!r}.{did_you_mean(name, self._layers)} "
                                     f"Scanned: {', '.join(self._layers)}.")
        return self._layers[name]

    def __contains__(self, name: object) -> bool:
        return name in self._layers

    def __iter__(self) -> Iterator[str]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def __repr__(self) -> str:
        whole = "" if self.whole else f", shards {self.shards}"
        return f"ScanStats({self.model.get('spec')!r}, {self.inputs} inputs, {len(self)} layers{whole})"

    # -- metadata --------------------------------------------------------------------------------------
    inputs = property(lambda self: int(self.meta["inputs"]), doc="Inputs scanned (skipped ones not counted).")
    complete = property(lambda self: bool(self.meta["complete"]), doc="Whether every part finished its inputs.")
    model = property(lambda self: self.meta["model"], doc="Spec, module, weights, checkpoint, weights fingerprint.")
    data = property(lambda self: self.meta["data"], doc="Kind, root, size, classes and fingerprint of the data.")
    notes = property(lambda self: list(self.meta["notes"]))

    @property
    def shards(self) -> list[str]:
        return [f"{i}/{n}" for i, n in self.meta["shards"]]

    @property
    def whole(self) -> bool:
        """Whether the result covers every input of the data (all shards)."""
        return bool(self.meta.get("whole", self.meta["shards"] == [[0, 1]]))

    @property
    def skipped(self) -> list[tuple[int, str, str]]:
        """(index, source, reason) of every input that could not be read."""
        return [(int(i), source, reason) for i, source, reason in self.meta["skipped"]]

    def source(self, index: int) -> tuple[str, Optional[int], Optional[str]]:
        """(source, label, class name) of input ``index`` as recorded (inputs outside every top-k list: by kind)."""
        recorded = self.meta["sources"].get(str(index))
        if recorded is None:
            return f"{self.data.get('kind')}[{index}]", None, None
        source, label = recorded
        classes = self.data.get("classes") or []
        name = classes[label] if label is not None and 0 <= label < len(classes) else None
        return source, label, name

    def summary(self) -> str:
        """A few lines for people: what was scanned, and per layer its activity and receptive field."""
        data = self.data
        cover = "whole data" if self.whole else f"shards {', '.join(self.shards)}"
        k = self.meta.get("top_k")
        lines = [f"scan of {self.model.get('spec')}: {self.inputs:,} inputs of {data.get('kind')} "
                 f"{data.get('root') or ''} ({cover}{'' if self.complete else ', NOT complete'}), top-{k} per channel"]
        width = max((len(n) for n in self.layers), default=5)
        for name in self.layers:
            layer = self[name]
            rf = layer.receptive
            field = (f"receptive {rf.size[0]}x{rf.size[1]} ({rf.method})" if rf.stride != (0, 0)
                     else f"receptive: the whole input ({rf.method})")
            with np.errstate(invalid="ignore"):
                active, inputs = float(np.nanmean(layer.active)), float(np.nanmean(layer.active_inputs))
            lines.append(f"  {name:<{width}}  {layer.channels:>5} ch  map {layer.map_size[0]}x{layer.map_size[1]}  "
                         f"active {100 * active:.0f}% of positions, on {100 * inputs:.0f}% of inputs  {field}")
        skipped = len(self.meta["skipped"])
        if skipped:
            lines.append(f"{skipped} input{'s' if skipped != 1 else ''} skipped (unreadable; listed in the result)")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)

    def top(self, layer: str, channel: int, by: str = "max") -> list[TopEntry]:
        """The top-k entries of ``channel`` of ``layer`` (see :meth:`LayerStats.entries`)."""
        return self[layer].entries(channel, by)

    def crop(self, layer: str, channel: int, rank: int = 0, *, by: str = "max", model: Any = None,
             data: Any = None) -> Any:
        """Render the crop of one top-k entry and check its stored value (:func:`~layerscope.scanning.crops.render_crop`)."""
        entries = self.top(layer, channel, by)
        if not 0 <= rank < len(entries):
            raise InputError(f"Channel {channel} of {layer!r} has {len(entries)} top-k entries; rank {rank} is not one.")
        return render_crop(self, entries[rank], model=model, data=data)

    def report_examples(self, layers: Optional[list[str]] = None, channels: int = 16, k: int = 6, *,
                        by: str = "max", model: Any = None, data: Any = None) -> dict:
        """``layer -> channel -> [core.examples.Example]``: the crops of the ``k`` best inputs of the first
        ``channels`` channels (0: all) of ``layers`` (default: every scanned layer), for
        :func:`layerscope.report` (``examples=stats`` calls this with the defaults). Each crop is
        checked against its stored value; a mismatch says so in its caption. Where the receptive field covers
        a quarter of the input or more, the example is the whole input with the box outlined: one picture
        that the report embeds once however many channels and layers it tops (a deep layer's crops are
        nearly whole inputs anyway); smaller boxes are their crop, a few bytes each."""
        names = [name for name in (self.layers if layers is None else layers) if name in self]
        entries = [entry for name in names
                   for channel in range(self[name].channels if channels <= 0 else min(channels, self[name].channels))
                   for entry in self.top(name, channel, by)[:k]]
        out: dict = {}
        for crop in render_crops(self, entries, model=model, data=data):
            e = crop.entry
            caption = f"#{e.rank + 1} {Path(e.source).name if '/' in e.source else e.source}" + (
                f" ({e.class_name})" if e.class_name else "") + ("" if crop.matches else " MISMATCH: changed since the scan")
            x0, y0, x1, y1 = e.box
            whole = 4 * (x1 - x0) * (y1 - y0) >= crop.input.shape[0] * crop.input.shape[1]
            image = crop.input if whole else crop.image  # a large box: the whole input (embedded once), outlined
            image = image[..., 0] if image.shape[-1] == 1 else image
            out.setdefault(e.layer, {}).setdefault(e.channel, []).append(
                Example(image, caption, score=e.score, box=(x0, y0, x1, y1) if whole else None))
        return out

    index_name = "scan.json"

    def write_files(self, folder: OutputFolder) -> None:
        """The state file (``stats.safetensors``): :func:`load_stats` reads the saved folder like the scan's own."""
        write_state(self.state, folder.path(STATE_FILE))

    def to_dict(self) -> dict:
        """The metadata (JSON-able), with the layers' names."""
        return {**self.meta, "layers": self.meta.get("layers"), "path": str(self.path) if self.path else None}


def load_stats(where: Union[str, os.PathLike]) -> ScanStats:
    """Read a scan result: the ``--out`` folder of ``layerscope scan`` / ``merge`` (or its stats.safetensors).

    The arrays are loaded on the CPU; a scan still running (or stopped) reads as it was at its last
    checkpoint (``complete`` False).
    """
    path = state_path(where)
    return ScanStats(read_state(path), path)
