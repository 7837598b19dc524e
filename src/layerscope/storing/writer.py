"""``layerscope.dump(model, data, layers=..., out=DIR)``: the chosen layers' activations over a dataset, as rows on disk.

>>> import tempfile, torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 4))
>>> store = dump(model, torch.randn(10, 1, 8, 8), layers=["1", "3"], out=tempfile.mkdtemp(), batch_size=4,
...              progress=False)
>>> store.layers, len(store["1"]), store["1"].channels, len(store["3"]), store["3"].channels
(['1', '3'], 360, 2, 10, 4)

The inputs are read by shard position through the scan's sources (:func:`~layerscope.io.inputs.resolve_source`,
:class:`~layerscope.io.shard.Shard`), batch after batch through a :class:`~layerscope.capturing.Recorder`;
each layer becomes maps with :class:`~layerscope.run.LayerMaps` (conv maps, tokens, NHWC ...; vectors stay
vectors) and then rows (:mod:`.rows`). Rows wait in memory until a part is full (``save_every`` batches
or ``part_mb`` MB), then go to a part file and the index is rewritten (:mod:`.parts`), both atomically:
memory stays flat, and a dump killed at any moment and run again continues from its last part and ends
with the same bytes. Under ``torchrun`` every rank dumps its shard into ``out/shards/`` and rank 0 merges
them (:func:`~layerscope.storing.merging.merge_stores`, the home of ``layerscope merge`` for stores).
"""

from __future__ import annotations

import copy
import glob
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any, Optional, Union

import torch

from .._version import __version__
from ..capturing import Recorder
from ..capturing.select import LayerSelector
from ..core.jsonio import jsonable
from ..core.options import share_out
from ..core.outputs import MARK, OutputFolder
from ..errors import ImageError, InputError
from ..io.inputs import resolve_source
from ..io.shard import Shard
from ..io.sources import Source
from ..run.maps import LayerMaps
from ..run.options import OutputOptions, RunOptions
from ..run.progress import Progress
from ..run.subject import Subject
from ..scanning.distributed import World, detect, on_terminate
from ..scanning.meta import model_meta
from ..scanning.state import differences
from .merging import merge_stores
from .options import DUMP_BATCH_SIZE, DumpOptions
from .parts import FORMAT, INDEX, PARTS, cat_rows, part_bytes, part_header, part_name, rows_nbytes
from .reader import StoredActivations, load_activations
from .rows import Rows, layer_rows, vector_rows

__all__ = ["dump"]

SHARDS = "shards"  # the ranks' shard stores under torchrun
SUBJECT_KEYWORDS = ("preprocessing", "layouts")
_RESUME = {"dtype": "the dtype", "positions": "the positions per image", "seed": "the seed", "pooled": "pooled",
           "save_every": "save_every (parts must end where they ended)", "part_mb": "part_mb"}
log = logging.getLogger("layerscope.dump")


def dump(
    model: Any,
    data: Any,
    layers: LayerSelector = None,
    options: Optional[DumpOptions] = None,
    *,
    run: Optional[RunOptions] = None,
    output: Union[OutputOptions, str, os.PathLike, None] = None,
    **fields: Any,
) -> StoredActivations:
    """Write the activations of ``layers`` over ``data`` to the store folder ``out``; returns it, read back.

    ``model``, ``data``, ``layers``: as :func:`layerscope.scan` (a spec, module, LoadedModel or Subject; any
    input kind; the subject's layers by default). ``options``: :class:`~layerscope.storing.DumpOptions`
    (``dtype`` float16 by default, ``positions`` K random positions per image and layer with ``seed``,
    ``pooled``, ``shard``, ``save_every``, ``part_mb``); ``run``: :class:`~layerscope.run.RunOptions`
    (``batch_size`` 32 by default, ``workers``, ``device``, ``progress``, ``strict``); ``output``:
    :class:`~layerscope.run.OutputOptions` or the folder; their fields may be given as keywords.

    The same call after a crash or kill continues from the last part (a finished dump just loads); a
    folder holding another dump is refused unless ``overwrite=True``. Read it with
    :func:`~layerscope.storing.load_activations`.
    """
    mine, running, writing, keywords = share_out("dump", fields, DumpOptions, RunOptions, OutputOptions,
                                                 extra=SUBJECT_KEYWORDS)
    if not isinstance(output, (OutputOptions, type(None))):
        output = OutputOptions(out=output)
    settings = DumpOptions.of(options, **mine)
    run_options = RunOptions.of(run if run is not None else RunOptions(batch_size=DUMP_BATCH_SIZE), **running)
    writing_options = OutputOptions.of(output, **writing)
    if writing_options.path is None:
        raise InputError("dump needs a folder for the store: pass out=DIR (--out DIR).")
    out = writing_options.path
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for the activation store.")
    world = detect(run_options.device)
    try:
        if world is not None and run_options.device is not None:
            run_options = run_options.replace(device=str(world.device(run_options.device)))
        subject = Subject.of(model, layers, device=run_options.device, **keywords)
        _dump(world, subject, data, settings, run_options, out, writing_options.overwrite)
    finally:
        if world is not None:
            world.close()
    return load_activations(out)


def _dump(world: Optional[World], subject: Subject, data: Any, settings: DumpOptions, running: RunOptions, out: Path,
          overwrite: bool) -> None:
    if world is not None and settings.shard is not None:
        raise InputError("Under torchrun every rank dumps its own shard; drop --shard (or run without torchrun).")
    shard = Shard(world.rank, world.size) if world is not None else Shard.parse(settings.shard)
    where = out if world is None else out / SHARDS / f"shard-{shard.index:05d}-of-{shard.count:05d}"
    source = resolve_source(data, subject.preprocessing, max_pixels=running.max_pixels)
    if running.workers == 0:
        running = running.replace(workers=int(getattr(data, "num_workers", 0) or 0))
    kept = f"The parts written so far are kept in {where}; run the same command again to resume."
    previous = on_terminate(world, kept) if world is not None else None
    try:
        dump_shard(subject, source, settings, running, where, shard, overwrite, shown=world is None or world.rank == 0)
        if world is not None:
            world.barrier()
            if world.rank == 0:
                wheres = [out / SHARDS / f"shard-{rank:05d}-of-{world.size:05d}" for rank in range(world.size)]
                merge_stores(wheres, out, overwrite=overwrite)
            world.barrier()  # the other ranks return the merged store
    except Exception as err:
        if world is not None:
            log.error("rank %d of %d failed: %s. %s", world.rank, world.size, err, kept)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def identity(subject: Subject, source: Source, settings: DumpOptions, batch_size: int, shard: Shard) -> dict:
    """The index a fresh dump starts with (the layers and the input shape are added on the first batch)."""
    preprocessing = subject.preprocessing
    return {
        "format": FORMAT, "model": model_meta(subject.loaded), "selected": list(subject.layers),
        "preprocessing": preprocessing.to_dict() if preprocessing is not None else None,
        "data": source.describe(), "dtype": settings.dtype, "positions": settings.positions, "seed": settings.seed,
        "pooled": settings.pooled, "save_every": settings.save_every, "part_mb": settings.part_mb,
        "batch_size": batch_size, "shards": [[shard.index, shard.count]], "layerscope": __version__,
        "complete": False, "done": {"batches": 0, "positions": 0}, "inputs": 0, "input_shape": None, "layers": {},
        "dropped": {}, "skipped": [], "parts": [],
    }


def _differences(old: dict, fresh: dict) -> list[str]:
    found = differences(old, fresh, resume=True)
    return found + [f"{what}: {old.get(key)!r} vs {fresh.get(key)!r}" for key, what in _RESUME.items()
                    if old.get(key) != fresh.get(key)]


def _open(where: Path, fresh: dict, overwrite: bool) -> tuple[OutputFolder, dict]:
    """The folder and the index to continue: the one in ``where`` when it is the same dump, else a fresh one."""
    for leftover in glob.glob(str(where / ".*.tmp")) + glob.glob(str(where / PARTS / ".*.tmp")):
        os.unlink(leftover)  # a kill during a write leaves these
    old: Optional[dict] = None
    if not overwrite and (where / INDEX).is_file():
        try:
            old = json.loads((where / INDEX).read_text())
        except ValueError:
            old = None
        if not isinstance(old, dict) or old.get("format") != FORMAT:
            old = None
        elif _differences(old, fresh):
            raise InputError(f"{where} holds another dump (it differs in " + "; ".join(_differences(old, fresh)) +
                             "). Choose another --out, or pass --overwrite (overwrite=True) to replace it.")
    folder = OutputFolder(where, INDEX, overwrite=overwrite)
    meta = copy.deepcopy(fresh) if old is None else {k: v for k, v in old.items() if k not in ("files", MARK)}
    listed = {part["file"] for part in meta["parts"]}
    for part in meta["parts"]:
        folder.path(part["file"])  # kept, and listed in the same order as by a run never stopped
    for path in sorted((where / PARTS).glob("*.safetensors")) if (where / PARTS).is_dir() else ():
        name = f"{PARTS}/{path.name}"
        if name not in listed and _ours(path):
            path.unlink()  # a part written after the last index: it is written again
    if old is None:
        folder.finish(jsonable(meta))
    return folder, meta


def _ours(path: Path) -> bool:
    header = part_header(path)
    return header is not None and header.get("format") == FORMAT


class _Layers(LayerMaps):
    """The run's layers as rows; their records go to the index (restored from it on a resume)."""

    def __init__(self, subject: Subject, meta: dict, settings: DumpOptions) -> None:
        super().__init__(subject.layouts)
        self.meta, self.settings = meta, settings
        self.rows = {name: dict(row) for name, row in meta["layers"].items()}
        self.skipped = dict(meta["dropped"])

    def added(self, name: str, row: dict) -> None:
        keep = ("module_type", "layout", "shape", "channels", "notes", "tokens")
        kept = {k: row[k] for k in keep if k in row}
        if row["layout"] == "NC":
            kept["channels"] = int(row["shape"][-1])  # the vector's entries (its maps are one strip of them)
        self.meta["layers"][name] = {**kept, "rows": 0}

    def of(self, name: str, tensor: torch.Tensor, record: dict, size: tuple, index: torch.Tensor) -> Optional[Rows]:
        if not tensor.is_floating_point():
            self.skipped.setdefault(name, f"a {tensor.dtype} tensor of shape {tuple(tensor.shape)}, not activations")
        maps = self.maps(name, tensor, record, size)
        if maps is None:
            self.meta["dropped"] = dict(self.skipped)
            return None
        if maps.layout == "NC":
            rows = vector_rows(tensor, index)
        else:
            rows = layer_rows(maps.maps, index, pooled=self.settings.pooled, positions=self.settings.positions,
                              seed=self.settings.seed, layer=name)
        rows.values = rows.values.detach().to(self.settings.torch_dtype).cpu()
        return rows


class _Part:
    """The rows waiting for the next part file, and the sources of their inputs."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Rows]] = {}
        self.sources: list = []
        self.batches = self.nbytes = 0

    def add(self, name: str, rows: Rows) -> None:
        self.rows.setdefault(name, []).append(rows)
        self.nbytes += rows_nbytes(rows)


def dump_shard(subject: Subject, source: Source, settings: DumpOptions, running: RunOptions, where: Path, shard: Shard,
               overwrite: bool, shown: bool = True) -> dict:
    """Dump ``shard`` of ``source`` into the store folder ``where`` (fresh, or resumed from its index); returns the
    final index."""
    fresh = identity(subject, source, settings, running.batch_size, shard)
    folder, meta = _open(where, fresh, overwrite)
    if meta["complete"]:
        log.info("shard %s is already complete in %s", shard, where)
        return meta
    start = meta["done"]["batches"]
    if start:
        log.info("resuming shard %s from batch %d (%d inputs done) in %s", shard, start, meta["done"]["positions"],
                 where)
    layers = _Layers(subject, meta, settings)
    part = _Part()
    limit = settings.part_mb * 2**20
    total = source.shard_size(shard)
    what = f"{len(subject.layers)} layers x {total} inputs on {running.device or 'cpu'}" if total else ""
    bar = Progress(total, desc=f"dump {shard}" if shard.count > 1 else "dump", unit="img",
                   enabled=running.progress if shown else False, initial=meta["done"]["positions"], what=what,
                   long_after=running.long_after)
    try:
        with Recorder(subject.module, subject.layers) as rec, torch.no_grad():
            for batch in source.batches(shard, start, running.batch_size, running.workers):
                bar.start()
                if batch.skipped and running.strict:
                    index, reason = batch.skipped[0]
                    raise ImageError(f"{source.source_of(index)}: {reason} (--strict stops at the first unreadable input)")
                meta["skipped"].extend([index, source.source_of(index), reason] for index, reason in batch.skipped)
                if batch.inputs is not None:
                    _check_input(meta, batch.inputs)
                    acts = rec(batch.inputs)
                    size = tuple(batch.inputs.shape[-2:])
                    for name, tensor in acts.items():
                        rows = layers.of(name, tensor, acts.describe(name), size, batch.index)
                        if rows is not None:
                            part.add(name, rows)
                    if not meta["layers"]:
                        raise InputError("No selected layer gives activations to store; choose other layers "
                                         f"(--layers). {'; '.join(meta['dropped'].values())}")
                    meta["inputs"] += len(batch.index)
                    part.sources.extend([int(i), source.source_of(int(i)), label]
                                        for i, label in zip(batch.index.tolist(), batch.labels))
                meta["done"]["batches"] += 1
                meta["done"]["positions"] += batch.positions
                part.batches += 1
                bar.update(batch.positions)
                if part.batches >= settings.save_every or part.nbytes >= limit:
                    _flush(folder, meta, part, shard)
                    part = _Part()
        meta["complete"] = True
        meta["data"]["size"] = source.size
        _flush(folder, meta, part, shard)
    finally:
        bar.close()
    return meta


def _flush(folder: OutputFolder, meta: dict, part: _Part, shard: Shard) -> None:
    """Write the waiting rows as the next part (when there are any), then the index that lists it."""
    if part.batches:
        rows = {name: cat_rows(pieces) for name, pieces in part.rows.items()}
        name = part_name((shard.index, shard.count), len(meta["parts"]))
        folder.write(part_bytes(rows, part.sources), name)
        counts = {layer: int(len(r.image)) for layer, r in rows.items()}
        meta["parts"].append({"file": name, "inputs": len(part.sources), "rows": counts})
        for layer, count in counts.items():
            meta["layers"][layer]["rows"] += count
    folder.finish(jsonable(meta))


def _check_input(meta: dict, inputs: torch.Tensor) -> None:
    shape = list(inputs.shape[1:])
    if meta.get("input_shape") is None:
        meta["input_shape"] = shape
    elif meta["input_shape"] != shape:
        raise InputError(f"An input of shape {tuple(shape)} after inputs of shape {tuple(meta['input_shape'])}: a dump "
                         "needs one input size (set --size N, or give the model a preprocessing with a crop).")
