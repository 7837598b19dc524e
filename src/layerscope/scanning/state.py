"""A scan's state as one self-describing file: safetensors arrays, JSON metadata in the same header.

>>> import tempfile, os, torch
>>> from layerscope.stats import ResponseStats
>>> path = os.path.join(tempfile.mkdtemp(), STATE_FILE)
>>> _ = write_state(State({"complete": True}, {"conv": ResponseStats(2).update(torch.ones(1, 2, 3, 3))}), path)
>>> back = read_state(path)
>>> back.meta["format"], back.meta["complete"], back.layers["conv"].inputs
('layerscope.scan/1', True, 1)

One file, written atomically (temp file + rename), is the whole state: a checkpoint can never
pair arrays with the metadata of another moment. The arrays are each layer's
:class:`~layerscope.stats.ResponseStats` state under ``LAYER/part.entry``; the metadata (model,
preprocessing, layers, data fingerprint, shards, progress, skipped inputs, and the sources of
the inputs in the top-k lists) is JSON with sorted keys and no timestamps, so equal scans give
equal bytes. Nothing in the file is code: loading it runs nothing.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from ..core.files import write_atomic
from ..core.jsonio import jsonable
from ..errors import InputError
from ..stats import ResponseStats

__all__ = ["State", "STATE_FILE", "FORMAT", "write_state", "read_state", "state_path", "differences", "top_indices",
           "prune_sources"]

FORMAT = "layerscope.scan/1"
STATE_FILE = "stats.safetensors"
_KEY = "layerscope.scan"


@dataclass
class State:
    """``meta`` (JSON-able dict) and the per-layer accumulators, in layer order."""

    meta: dict
    layers: dict[str, ResponseStats]


def top_indices(layers: dict[str, ResponseStats]) -> set[int]:
    """The global indices of every input in some top-k list."""
    found: set[int] = set()
    for stats in layers.values():
        for top in (stats.top, stats.top_mean):
            index = top.result().index
            found.update(index[index >= 0].tolist())
    return found


def prune_sources(state: State) -> None:
    """Keep the sources of the inputs that are in a top-k list, in index order (other inputs are not needed)."""
    keep = {str(i) for i in top_indices(state.layers)}
    items = sorted(state.meta["sources"].items(), key=lambda kv: int(kv[0]))
    state.meta["sources"] = {k: v for k, v in items if k in keep}


def state_path(where: Union[str, os.PathLike]) -> Path:
    """The state file of a result folder (or the file itself)."""
    path = Path(where)
    return path / STATE_FILE if path.is_dir() or path.suffix != ".safetensors" else path


def write_state(state: State, path: Union[str, os.PathLike]) -> Path:
    """Write ``state`` to ``path`` atomically."""
    tensors = {f"{name}/{key}": value.detach().cpu().contiguous()
               for name, stats in state.layers.items() for key, value in stats.state_dict().items()}
    meta = {**state.meta, "format": FORMAT, "layer_order": list(state.layers)}
    text = json.dumps(jsonable(meta), sort_keys=True, separators=(",", ":"))
    return write_atomic(save_tensors(tensors, metadata={_KEY: text}), path)


def _header(data: bytes, path: Path) -> dict:
    try:
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + length])
        return json.loads(header["__metadata__"][_KEY])
    except (struct.error, ValueError, KeyError, TypeError):
        raise InputError(
            f"{path} is not a layerscope scan state (no {_KEY!r} metadata); give the --out folder of a "
            "`layerscope scan` (or its stats.safetensors)."
        ) from None


def read_state(where: Union[str, os.PathLike], device: Any = None) -> State:
    """Read a state file (or a result folder's); arrays land on ``device`` (default CPU)."""
    path = state_path(where)
    if not path.is_file():
        raise InputError(f"{path}: no scan result here; run `layerscope scan MODEL DATA --out {path.parent}` first.")
    data = path.read_bytes()
    meta = _header(data, path)
    if meta.get("format") != FORMAT:
        raise InputError(f"{path} has format {meta.get('format')!r}; this layerscope reads {FORMAT!r}.")
    tensors = load_tensors(data)
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        layer, _, entry = key.rpartition("/")
        grouped.setdefault(layer, {})[entry] = value if device is None else value.to(device)
    order = meta.pop("layer_order", sorted(grouped))
    try:
        layers = {name: ResponseStats.from_state(grouped[name]) for name in order}
    except KeyError as err:
        raise InputError(f"{path} is damaged: the metadata names layer {err} but it holds no arrays for it.") from None
    return State(meta, layers)


# what must be equal for two states to continue or merge, and how to say that it is not
_IDENTITY = {
    "model": "the model (spec and weights)",
    "preprocessing": "the preprocessing",
    "selected": "the layers",
    "data": "the data (its listing)",
    "top_k": "the top-k size",
    "edges": "the peak histogram's bin edges",
    "active": "the activity threshold",
    "transforms": "the layer transforms (dictionaries)",
}


_FIELDS = {"data": ("kind", "fingerprint", "classes"), "model": ("spec", "fingerprint")}  # the root may differ


def _same(key: str, a: Any, b: Any) -> bool:
    if key in _FIELDS:
        return all((a or {}).get(f) == (b or {}).get(f) for f in _FIELDS[key])
    return jsonable(a) == jsonable(b)


def differences(a: dict, b: dict, *, resume: bool = False) -> list[str]:
    """What differs between two states' metadata that forbids merging them (``resume``: continuing one
    with the other, which also needs the same batch size and shard)."""
    keys = dict(_IDENTITY)
    if resume:
        keys.update(batch_size="the batch size (batches must fall where they fell)", shards="the shard")
    found = []
    for key, what in keys.items():
        if not _same(key, a.get(key), b.get(key)):
            found.append(f"{what}: {_brief(key, a.get(key))} vs {_brief(key, b.get(key))}")
    return found


def _brief(key: str, value: Any) -> str:
    if key == "model" and isinstance(value, dict):
        return f"{value.get('spec')} (weights {str(value.get('fingerprint'))[:12]})"
    if key == "selected" and isinstance(value, list):
        return ", ".join(value[:4]) + (f" and {len(value) - 4} more" if len(value) > 4 else "")
    if key == "data" and isinstance(value, dict):
        return f"{value.get('kind')} {value.get('root') or ''} ({value.get('size')} inputs, {value.get('fingerprint')})"
    if key == "preprocessing" and isinstance(value, dict):
        return str(value.get("description"))
    return json.dumps(jsonable(value))
