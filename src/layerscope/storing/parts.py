"""The store on disk: ``index.json`` and part files of rows (safetensors), each written atomically.

>>> import tempfile, torch
>>> from .rows import vector_rows
>>> data = part_bytes({"fc": vector_rows(torch.ones(2, 3), torch.tensor([4, 5]))}, [[4, "a.png", 1], [5, "b.png", 0]])
>>> path = write_atomic(data, tempfile.mkdtemp() + "/part.safetensors")
>>> part_header(path)["sources"]
[[4, 'a.png', 1], [5, 'b.png', 0]]
>>> read_rows(path, "fc").image.tolist()
[4, 5]

A store folder holds ``index.json`` (:data:`FORMAT`; the model, preprocessing, input shape, layers with
their shapes, channels and row counts, the dtype, the positions rule, the data, the shards, the progress
and the list of complete ``parts``) and the part files under ``parts/``. A part holds, per layer,
``LAYER/values`` (n, C) in the store's dtype, ``LAYER/image`` (int64), ``LAYER/y`` and ``LAYER/x``
(int32), and in its header the sources and labels of its inputs. Nothing holds a time, so the same dump
gives the same bytes; the index is written after the part files it lists, so it only ever lists
complete files.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Optional, Union

import torch
from safetensors import safe_open
from safetensors.torch import save as save_tensors

from ..core.files import write_atomic
from ..core.jsonio import jsonable
from ..errors import InputError
from .rows import Rows

__all__ = ["FORMAT", "INDEX", "PARTS", "part_bytes", "part_header", "read_rows", "read_index", "is_store",
           "part_name", "write_atomic"]

FORMAT = "layerscope.store/1"
INDEX = "index.json"
PARTS = "parts"
_KEY = "layerscope.store"
_FIELDS = ("values", "image", "y", "x")


def part_name(shard: Any, number: int) -> str:
    """The relative path of part ``number`` of ``shard`` (unique across the disjoint shards of one dump).

    >>> part_name((1, 4), 7)
    'parts/shard-00001-of-00004-00007.safetensors'
    """
    index, count = shard
    return f"{PARTS}/shard-{index:05d}-of-{count:05d}-{number:05d}.safetensors"


def part_bytes(rows: dict[str, Rows], sources: list) -> bytes:
    """One part file: every layer's rows and the ``[index, source, label]`` of its inputs."""
    tensors = {f"{layer}/{key}": getattr(r, key).detach().cpu().contiguous() for layer, r in rows.items()
               for key in _FIELDS}
    text = json.dumps(jsonable({"format": FORMAT, "sources": sources}), sort_keys=True, separators=(",", ":"))
    return save_tensors(tensors, metadata={_KEY: text})


def part_header(path: Union[str, Path]) -> Optional[dict]:
    """The metadata of a part file; None when the file is not one (not written by a dump)."""
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        return json.loads(header["__metadata__"][_KEY])
    except (OSError, struct.error, ValueError, KeyError, TypeError):
        return None


def read_rows(path: Union[str, Path], layer: str, rows: Optional[slice] = None) -> Rows:
    """The rows of ``layer`` in one part file (``rows``: a slice of them), values in the stored dtype."""
    with safe_open(str(path), framework="pt") as handle:
        if f"{layer}/values" not in handle.keys():
            raise InputError(f"{path} holds no rows of layer {layer!r}; the store is damaged (a part of another dump?).")
        if rows is None:
            return Rows(*(handle.get_tensor(f"{layer}/{key}") for key in _FIELDS))
        return Rows(*(handle.get_slice(f"{layer}/{key}")[rows] for key in _FIELDS))


def is_store(where: Union[str, Path]) -> bool:
    """Whether ``where`` is a store folder (its ``index.json`` says :data:`FORMAT`)."""
    try:
        return json.loads((Path(where) / INDEX).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_index(where: Union[str, Path]) -> dict:
    """The index of the store folder ``where``."""
    path = Path(where) / INDEX
    try:
        meta = json.loads(path.read_text())
    except OSError:
        raise InputError(f"{where}: no activation store here ({INDEX} is missing); write one with "
                         f"`layerscope dump MODEL DATA --out {where}` (ls.dump) first.") from None
    except ValueError:
        raise InputError(f"{path} is not JSON; is {where} an activation store (`layerscope dump --out`)?") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise InputError(f"{path} has format {found!r}, not {FORMAT!r}: {where} is not an activation store written "
                         "by `layerscope dump` (ls.dump).")
    return meta


def rows_nbytes(rows: Rows) -> int:
    return sum(t.numel() * t.element_size() for t in (rows.values, rows.image, rows.y, rows.x))


def cat_rows(pieces: list[Rows]) -> Rows:
    return Rows(*(torch.cat([getattr(p, key) for p in pieces]) for key in _FIELDS))
