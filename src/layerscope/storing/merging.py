"""Merge the stores of disjoint shards of one dump into one store (``layerscope merge`` for stores).

The parts must be complete shards of the same dump (model and weights, preprocessing, layers, data, dtype,
positions, seed, pooled); their shards may not overlap (checked as the scan's merge checks its parts). The
merged store lists the parts' files in shard order (by shard count, then index), each shard's parts in
their order: every row of every shard once, each with its input's global index. Part files already inside
``out`` (the ranks' stores under ``torchrun``) are listed where they are; others are hard-linked (copied
across filesystems) into ``out/parts/``.

>>> import tempfile, torch, torch.nn as nn, layerscope as ls
>>> model, data, root = nn.Sequential(nn.Conv2d(1, 2, 3)), torch.randn(6, 1, 5, 5), tempfile.mkdtemp()
>>> for i in (0, 1):
...     _ = ls.dump(model, data, out=f"{root}/part{i}", shard=f"{i}/2", progress=False)
>>> merged = merge_stores([f"{root}/part1", f"{root}/part0"], f"{root}/whole")
>>> len(ls.load_activations(f"{root}/whole")), merged.meta["shards"], sorted(merged.sources)
(54, [[0, 2], [1, 2]], [0, 1, 2, 3, 4, 5])
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Sequence, Union

from ..core.jsonio import jsonable
from ..core.outputs import OutputFolder
from ..errors import InputError
from ..io.shard import Shard, covers_all
from ..scanning.merging import check_parts
from ..scanning.state import State
from .parts import FORMAT, INDEX, PARTS, read_index
from .reader import StoredActivations

__all__ = ["merge_stores"]

_SAME = {"dtype": "the dtype", "positions": "the positions per image", "seed": "the seed", "pooled": "pooled"}


def _shards(meta: dict) -> list[Shard]:
    return [Shard(int(i), int(n)) for i, n in meta["shards"]]


def _check(metas: Sequence[dict], names: Sequence[str]) -> None:
    check_parts([State(meta, {}) for meta in metas], names, command="dump")
    first = metas[0]
    for meta, name in zip(metas[1:], names[1:]):
        found = [f"{what}: {first.get(key)!r} vs {meta.get(key)!r}" for key, what in _SAME.items()
                 if first.get(key) != meta.get(key)]
        shaped = {k: {f: v.get(f) for f in ("channels", "shape", "layout")} for k, v in first["layers"].items()}
        if meta["layers"] and first["layers"] and shaped != {k: {f: v.get(f) for f in ("channels", "shape", "layout")}
                                                             for k, v in meta["layers"].items()}:
            found.append("the stored layers and their shapes")
        if found:
            raise InputError(f"Cannot merge {names[0]} and {name}: they differ in " + "; ".join(found) + ".")


def _place(source: Path, folder: OutputFolder, name: str) -> str:
    """The relative name in ``folder`` under which the part file ``source`` is listed (linked or copied there)."""
    root = folder.out.resolve()
    if root in source.resolve().parents:
        return source.resolve().relative_to(root).as_posix()
    target = folder.path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.merge.tmp")
    if temp.exists():
        temp.unlink()
    try:
        os.link(source, temp)
    except OSError:
        shutil.copyfile(source, temp)
    os.replace(temp, target)
    return name


def merge_stores(parts: Sequence[Union[str, os.PathLike]], out: Union[str, os.PathLike], *,
                 overwrite: bool = False) -> StoredActivations:
    """Merge the store folders ``parts`` (disjoint, complete shards of one dump) into the store folder ``out``."""
    paths = [Path(p) for p in parts]
    if not paths:
        raise InputError("Nothing to merge; give the store folders of two or more shards.")
    target = Path(out)
    if any(p.resolve() == target.resolve() for p in paths if p.exists()):
        raise InputError(f"--out {out} is one of the parts; write the merge to a new folder.")
    metas = [read_index(p) for p in paths]
    _check(metas, [str(p) for p in paths])
    order = sorted(range(len(metas)), key=lambda i: [(s.count, s.index) for s in _shards(metas[i])])
    metas, paths = [metas[i] for i in order], [paths[i] for i in order]
    shaped = [m for m in metas if m["layers"]]
    meta = copy.deepcopy(shaped[0] if shaped else metas[0])
    folder = OutputFolder(target, INDEX, overwrite=overwrite)
    listed = []
    for part_meta, path in zip(metas, paths):
        for part in part_meta["parts"]:
            name = _place(path / part["file"], folder, f"{PARTS}/{Path(part['file']).name}")
            listed.append({**part, "file": name})
    shards = sorted((s for m in metas for s in _shards(m)), key=lambda s: (s.count, s.index))
    sizes = [m["data"].get("size") for m in metas if m["data"].get("size") is not None]
    for name, layer in meta["layers"].items():
        layer["rows"] = sum(m["layers"].get(name, {}).get("rows", 0) for m in metas)
    meta.update(
        format=FORMAT, parts=listed, shards=[[s.index, s.count] for s in shards], whole=covers_all(shards), done=None,
        inputs=sum(m["inputs"] for m in metas),
        skipped=sorted((item for m in metas for item in m["skipped"]), key=lambda item: item[0]),
        dropped={k: v for m in metas for k, v in m["dropped"].items()},
    )
    meta["data"]["size"] = max(sizes) if sizes else None
    meta.pop("files", None)
    meta.pop("layerscope_version", None)
    folder.finish(jsonable(meta))
    return StoredActivations(target, read_index(target))
