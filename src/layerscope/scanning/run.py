"""``layerscope.scan(model, data, out=DIR)``: what each channel responds to across a whole dataset.

>>> import tempfile, torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
>>> stats = scan(model, torch.randn(10, 1, 8, 8), out=tempfile.mkdtemp(), k=3, batch_size=4, progress=False)
>>> stats.inputs, stats.layers, stats["0"].top.index.shape
(10, ['0'], (2, 3))
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from ..capturing import select_layers
from ..capturing.select import LayerSelector
from ..errors import InputError
from ..io.images import DEFAULT_MAX_PIXELS
from ..io.resolve import resolve_model
from ..stats import PEAK_EDGES
from .distributed import World, detect, on_terminate
from .loop import Progress, scan_shard
from .merging import merge_states
from .meta import identity
from .result import ScanStats
from .shard import Shard
from .state import STATE_FILE, State, differences, read_state, write_state
from .streams import resolve_source

__all__ = ["scan"]

SHARDS = "shards"  # the folder of the ranks' shard states under torchrun
log = logging.getLogger("layerscope.scan")


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name}={value!r} must be a positive int.")
    return value


def _open_state(path: Path, fresh: dict, overwrite: bool) -> State:
    """The state to continue: the one at ``path`` when it is the same scan, else a fresh one."""
    for leftover in glob.glob(str(path.parent / f".{path.name}.*.tmp")):  # a kill during a write leaves these
        os.unlink(leftover)
    if overwrite or not path.exists():
        return State(fresh, {})
    state = read_state(path)
    found = differences(state.meta, fresh, resume=True)
    if found:
        raise InputError(
            f"{path.parent} holds another scan (it differs in " + "; ".join(found) + "). Choose another --out, or "
            "pass --overwrite (overwrite=True) to replace it."
        )
    return state


def _shard_path(out: Path, world: Optional[World]) -> Path:
    if world is None:
        return out / STATE_FILE
    return out / SHARDS / f"shard-{world.rank:05d}-of-{world.size:05d}.safetensors"


def _finish(world: World, out: Path, kept: str) -> State:
    """After the barrier, on rank 0: merge every rank's shard state into ``out``."""
    paths = [out / SHARDS / f"shard-{rank:05d}-of-{world.size:05d}.safetensors" for rank in range(world.size)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(
            f"Rank 0 cannot see the shard states {', '.join(missing)}: --out must be on a filesystem every node "
            f"shares. Otherwise scan with --shard i/N on each machine, copy the folders to one place and run "
            f"`layerscope merge`. {kept}"
        )
    merged = merge_states([read_state(p) for p in paths], [str(p) for p in paths])
    write_state(merged, out / STATE_FILE)
    return merged


def scan(
    model: Any,
    data: Any,
    layers: LayerSelector = None,
    *,
    out: Union[str, os.PathLike],
    k: int = 9,
    batch_size: int = 32,
    workers: Optional[int] = None,
    device: Any = None,
    preprocessing: Any = None,
    edges: Any = None,
    active: float = 0.0,
    shard: Any = None,
    save_every: int = 50,
    strict: bool = False,
    progress: Optional[bool] = None,
    overwrite: bool = False,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    layouts: Optional[Mapping[str, str]] = None,
) -> ScanStats:
    """Scan ``data`` through ``model``; the statistics of every channel of ``layers`` go to ``out``.

    ``model``: a spec, a ``LoadedModel`` or an ``nn.Module`` (moved to ``device`` when given).
    ``data``: an image folder (the ImageFolder class layout is recognised), a ``.txt`` list of
    image paths, a video file, image files and globs, a tensor, a ``Dataset``, a ``DataLoader`` or
    an iterable of batches (see :mod:`layerscope.scanning.sources`). ``layers``: as
    :func:`~layerscope.capturing.select_layers` (default every convolution). ``k``: the inputs kept
    per channel in each top-k list; ``edges``: the bin edges of the histogram of each input's peak
    (default :data:`~layerscope.stats.PEAK_EDGES`); ``active``: the activity threshold.

    The state is saved atomically to ``out/stats.safetensors`` every ``save_every`` batches; the
    same call after a crash or kill continues from there (and a finished scan just loads). Under
    ``torchrun`` every rank scans its shard and rank 0 merges; ``shard="i/N"`` scans one shard
    (merge the folders with :func:`layerscope.scanning.merging`). Unreadable images are skipped and
    listed (``strict=True``: the first one raises). ``progress``: a tqdm bar (default: when
    stderr is a terminal). Returns the :class:`ScanStats` (the merged result on rank 0).
    """
    _positive(k, "k"), _positive(batch_size, "batch_size"), _positive(save_every, "save_every")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise InputError(f"workers={workers!r} must be 0 (load in this process) or a positive int.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for the scan's results.")
    world = detect(device)
    try:
        return _scan(world, model, data, layers, out=out, k=k, batch_size=batch_size, workers=workers,
                     device=world.device(device) if world else device, preprocessing=preprocessing,
                     edges=PEAK_EDGES if edges is None else edges, active=active, shard=shard, save_every=save_every,
                     strict=strict, progress=progress, overwrite=overwrite, max_pixels=max_pixels, layouts=layouts)
    finally:
        if world is not None:
            world.close()


def _scan(world: Optional[World], model: Any, data: Any, layers: LayerSelector, *, out: Path, **options: Any) -> ScanStats:
    if world is not None and options["shard"] is not None:
        raise InputError("Under torchrun every rank scans its own shard; drop --shard (or run without torchrun).")
    shard = Shard(world.rank, world.size) if world is not None else Shard.parse(options["shard"])
    loaded = resolve_model(model, preprocessing=options["preprocessing"])
    if options["device"] is not None:
        loaded.module.to(options["device"])
    source = resolve_source(data, loaded.preprocessing, max_pixels=options["max_pixels"])
    workers = options["workers"] if options["workers"] is not None else int(getattr(data, "num_workers", 0) or 0)
    names = select_layers(loaded.module, layers)
    fresh = identity(loaded, source, names, k=options["k"], edges=options["edges"], active=options["active"],
                     batch_size=options["batch_size"], shard=shard, preprocessing=loaded.preprocessing)
    path = _shard_path(out, world)
    state = _open_state(path, fresh, options["overwrite"])
    who = f"rank {world.rank}: " if world is not None else ""
    if state.meta["complete"]:
        log.info("%sshard %s is already complete in %s", who, shard, path)
    elif state.meta["done"]["batches"]:
        done = state.meta["done"]
        log.info("%sresuming shard %s from batch %d (%d inputs done) in %s", who, shard, done["batches"],
                 done["positions"], path)
    kept = f"The shard states written so far are kept in {path.parent}; run the same command again to resume."
    previous = on_terminate(world, kept) if world is not None else None
    shown = options["progress"] if world is None or world.rank == 0 else False
    label = f"scan {shard}" if shard.count > 1 else "scan"
    bar = Progress(source.shard_size(shard), state.meta["done"]["positions"], shown, label)
    try:
        state = scan_shard(loaded.module, names, source, state, path, shard=shard, batch_size=options["batch_size"],
                           workers=workers, save_every=options["save_every"], strict=options["strict"],
                           layouts=dict(options["layouts"] or {}), progress=bar)
        if world is not None:
            world.barrier()
            if world.rank == 0:
                state, path = _finish(world, out, kept), out / STATE_FILE
    except Exception as err:
        if world is not None:
            import sys

            print(f"layerscope scan: rank {world.rank} of {world.size} failed: {err}. {kept}", file=sys.stderr, flush=True)
        raise
    finally:
        bar.close()
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)
    return ScanStats(state, path)
