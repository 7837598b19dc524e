"""``layerscope.load_activations(DIR, layer=NAME)``: a store read back one part at a time, never all at once.

>>> import tempfile, torch, torch.nn as nn, layerscope as ls
>>> out = tempfile.mkdtemp()
>>> _ = ls.dump(nn.Sequential(nn.Conv2d(1, 3, 3)), torch.randn(5, 1, 6, 6), out=out, dtype="float32", save_every=1,
...             batch_size=2, progress=False)
>>> acts = ls.load_activations(out, layer="0")
>>> len(acts), acts.channels, [len(chunk.values) for chunk in acts]   # 16 positions per image; a part per batch
(80, 3, [32, 32, 16])
>>> chunk = next(iter(acts)); chunk.values.dtype, chunk.image[:3].tolist(), chunk.y[:3].tolist(), chunk.x[:3].tolist()
(torch.float32, [0, 0, 0], [0, 0, 0], [0, 1, 2])
>>> acts.as_dataset()[17].shape, acts.sources[4]
(torch.Size([3]), ['tensor[4]', None])

Chunks are the rows of one part file (or ``chunks(rows=N)``: at most N rows each), values as float32,
in the store's order: the parts in shard order, the inputs of a part in their order, the positions of an
input row-major. :meth:`StoredActivations.as_dataset` is a map-style ``Dataset`` of rows that reads each
row from its part file on demand (memory-mapped).
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import torch
from safetensors import safe_open
from torch.utils.data import Dataset

from ..core.names import choose
from ..errors import InputError
from .parts import part_header, read_index, read_rows

__all__ = ["Chunk", "StoredActivations", "RowDataset", "load_activations"]


@dataclass
class Chunk:
    """Rows of one layer: ``values`` float32 (n, C); per row the input's global index ``image`` (int64) and the
    position ``y``, ``x`` (int32; -1 for pooled rows and vector layers)."""

    values: torch.Tensor
    image: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor

    def __len__(self) -> int:
        return len(self.values)


class StoredActivations:
    """A store folder, and one of its layers (``layer``; None until chosen when the store holds several).

    ``meta``: the index (model, preprocessing, ``input_shape``, ``layers`` with shapes, channels and rows,
    ``dtype``, ``positions``, ``data``, ``shards``); ``layers``: the stored layers; ``store[name]``: the same
    store with layer ``name``.
    """

    def __init__(self, root: Union[str, os.PathLike], meta: dict, layer: Optional[str] = None) -> None:
        self.root, self.meta = Path(root), meta
        self.layers: list[str] = list(meta["layers"])
        if layer is None and len(self.layers) == 1:
            layer = self.layers[0]
        if layer is not None and layer not in meta["layers"]:
            choose(layer, self.layers, "layer", hint=f"(The layers of the store {root}.)")
        self.layer = layer
        self._sources: Optional[dict[int, list]] = None

    def __getitem__(self, name: str) -> "StoredActivations":
        return StoredActivations(self.root, self.meta, name)

    def _chosen(self) -> str:
        if self.layer is None:
            raise InputError(f"The store {self.root} holds the layers {', '.join(self.layers)}; pick one: "
                             "load_activations(DIR, layer=NAME) or store[NAME].")
        return self.layer

    @property
    def channels(self) -> int:
        """C: the values per row."""
        return int(self.meta["layers"][self._chosen()]["channels"])

    @property
    def complete(self) -> bool:
        return bool(self.meta["complete"])

    def __len__(self) -> int:
        return int(self.meta["layers"][self._chosen()]["rows"])

    def _parts(self) -> list[tuple[Path, int]]:
        layer = self._chosen()
        return [(self.root / part["file"], int(part["rows"].get(layer, 0))) for part in self.meta["parts"]
                if part["rows"].get(layer, 0)]

    def chunks(self, rows: Optional[int] = None) -> Iterator[Chunk]:
        """The rows part by part (``rows``: at most that many a chunk); only one part is in memory at a time."""
        for path, count in self._parts():
            whole = read_rows(path, self._chosen())
            step = rows or count
            for begin in range(0, count, step):
                yield Chunk(whole.values[begin : begin + step].float(), whole.image[begin : begin + step],
                            whole.y[begin : begin + step], whole.x[begin : begin + step])

    def __iter__(self) -> Iterator[Chunk]:
        return self.chunks()

    @property
    def sources(self) -> dict[int, list]:
        """Input index -> ``[source, label]`` of every stored input (read from the part files' headers)."""
        if self._sources is None:
            found: dict[int, list] = {}
            for part in self.meta["parts"]:
                header = part_header(self.root / part["file"]) or {}
                found.update({int(i): [source, label] for i, source, label in header.get("sources", [])})
            self._sources = dict(sorted(found.items()))
        return self._sources

    def as_dataset(self) -> "RowDataset":
        """A map-style ``Dataset`` of the rows: item ``i`` is row i's values, float32 (C,)."""
        return RowDataset(self._parts(), self._chosen())

    def __repr__(self) -> str:
        what = f"layer {self.layer!r}: {len(self)} rows x {self.channels} channels" if self.layer else \
            f"layers {', '.join(self.layers)}"
        return f"<StoredActivations {self.root} ({what}, {self.meta['dtype']}, {self.meta['inputs']} inputs)>"


class RowDataset(Dataset):
    """Rows read one by one from memory-mapped part files (opened lazily, in each worker process)."""

    def __init__(self, parts: list[tuple[Path, int]], layer: str) -> None:
        self.paths, self.layer = [path for path, _ in parts], layer
        self.ends: list[int] = []
        for _, count in parts:
            self.ends.append((self.ends[-1] if self.ends else 0) + count)
        self._open: dict[int, Any] = {}

    def __getstate__(self) -> dict:  # open files stay in their process
        return {**self.__dict__, "_open": {}}

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def __getitem__(self, index: int) -> torch.Tensor:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"row {index} of {len(self)}")
        part = bisect.bisect_right(self.ends, index)
        begin = index - (self.ends[part - 1] if part else 0)
        if part not in self._open:
            self._open[part] = safe_open(str(self.paths[part]), framework="pt")
        return self._open[part].get_slice(f"{self.layer}/values")[begin : begin + 1][0].float()


def load_activations(where: Union[str, os.PathLike], layer: Optional[str] = None) -> StoredActivations:
    """The store in folder ``where`` (written by :func:`~layerscope.dump`), for ``layer`` (needed to read rows when
    the store holds several layers)."""
    return StoredActivations(where, read_index(where), layer)
