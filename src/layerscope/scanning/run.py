"""``layerscope.scan(model, data, out=DIR)``: what each channel responds to across a whole dataset.

>>> import tempfile, torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
>>> stats = scan(model, torch.randn(10, 1, 8, 8), out=tempfile.mkdtemp(), k=3, batch_size=4, progress=False)
>>> stats.inputs, stats.layers, stats["1"].top.index.shape
(10, ['1'], (2, 3))

The settings are three frozen option objects: :class:`~layerscope.scanning.options.ScanOptions` (``k``,
``edges``, ``active``, ``shard``, ``save_every``), :class:`~layerscope.run.RunOptions` (``batch_size``,
``workers``, ``device``, ``progress``, ``strict``, ``max_pixels``) and :class:`~layerscope.run.OutputOptions`
(``out``, ``overwrite``); their fields may also be given as keywords, as above.
"""

from __future__ import annotations

import glob
import logging
import os
import signal
from pathlib import Path
from typing import Any, Optional, Union

from ..capturing.select import LayerSelector
from ..core.options import share_out
from ..errors import InputError
from ..io.inputs import resolve_source
from ..io.shard import Shard
from ..run.options import OutputOptions, RunOptions
from ..run.progress import Progress
from ..run.subject import Subject
from .distributed import World, detect, on_terminate
from .loop import scan_shard
from .merging import merge_states
from .meta import identity
from .options import SCAN_BATCH_SIZE, ScanOptions
from .result import ScanStats
from .state import STATE_FILE, State, differences, read_state, write_state

__all__ = ["scan"]

SHARDS = "shards"  # the folder of the ranks' shard states under torchrun
SUBJECT_KEYWORDS = ("preprocessing", "layouts")  # keywords of Subject.of that scan takes too
log = logging.getLogger("layerscope.scan")


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


def _options(options: Optional[ScanOptions], run: Optional[RunOptions], output: Union[OutputOptions, str, os.PathLike, None],
             fields: dict) -> tuple[ScanOptions, RunOptions, OutputOptions, dict]:
    """The three option objects, with the keywords ``fields`` sorted into them (and the subject's keywords)."""
    mine, running, writing, subject = share_out("scan", fields, ScanOptions, RunOptions, OutputOptions,
                                                extra=SUBJECT_KEYWORDS)
    if not isinstance(output, (OutputOptions, type(None))):
        output = OutputOptions(out=output)
    base_run = run if run is not None else RunOptions(batch_size=SCAN_BATCH_SIZE)
    return ScanOptions.of(options, **mine), RunOptions.of(base_run, **running), OutputOptions.of(output, **writing), subject


def scan(
    model: Any,
    data: Any,
    layers: LayerSelector = None,
    options: Optional[ScanOptions] = None,
    *,
    run: Optional[RunOptions] = None,
    output: Union[OutputOptions, str, os.PathLike, None] = None,
    **fields: Any,
) -> ScanStats:
    """Scan ``data`` through ``model``; the statistics of every channel of ``layers`` go to ``out``.

    ``model``: a spec, a ``LoadedModel``, an ``nn.Module`` or a :class:`~layerscope.run.Subject` (resolved
    once; a module you pass is never moved: see the device rule of :class:`~layerscope.run.Subject`).
    ``data``: whatever :func:`~layerscope.io.inputs.resolve_source` reads (the inputs every verb takes):
    an image folder (the ImageFolder class layout is recognised), a ``.txt`` list of image paths, a video
    file, image files and globs, PIL images, a tensor or numpy array, a ``Dataset``, a ``DataLoader`` or an
    iterable of batches. ``layers``: as :func:`~layerscope.capturing.select_layers` (default: the
    subject's; for a CNN what follows each convolution's normalization and activation).
    ``options``: :class:`~layerscope.scanning.options.ScanOptions`;
    ``run``: :class:`~layerscope.run.RunOptions` (default batch size 32; ``workers`` 0 takes a
    ``DataLoader``'s own); ``output``: :class:`~layerscope.run.OutputOptions` or the folder. ``fields``:
    fields of any of the three (``k=``, ``batch_size=``, ``out=``, ``overwrite=``...) and the subject's
    ``preprocessing=`` and ``layouts=``.

    The state is saved atomically to ``out/stats.safetensors`` every ``save_every`` batches; the
    same call after a crash or kill continues from there (and a finished scan just loads). Under
    ``torchrun`` every rank scans its shard and rank 0 merges; ``shard="i/N"`` scans one shard
    (merge the folders with :func:`layerscope.scanning.merge`). Unreadable images are skipped and
    listed (``strict=True``: the first one raises). ``progress``: a tqdm bar (default: when
    stderr is a terminal). Returns the :class:`ScanStats` (the merged result on rank 0).
    """
    settings, running, writing, keywords = _options(options, run, output, fields)
    if writing.path is None:
        raise InputError("scan needs a folder for its result: pass out=DIR (--out DIR).")
    out = writing.path
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for the scan's results.")
    world = detect(running.device)
    try:
        if world is not None and running.device is not None:
            running = running.replace(device=str(world.device(running.device)))
        subject = Subject.of(model, layers, device=running.device, **keywords)
        return _scan(world, subject, data, settings, running, writing)
    finally:
        if world is not None:
            world.close()


def _scan(world: Optional[World], subject: Subject, data: Any, settings: ScanOptions, running: RunOptions,
          writing: OutputOptions) -> ScanStats:
    if world is not None and settings.shard is not None:
        raise InputError("Under torchrun every rank scans its own shard; drop --shard (or run without torchrun).")
    shard = Shard(world.rank, world.size) if world is not None else Shard.parse(settings.shard)
    out = Path(writing.out)
    source = resolve_source(data, subject.preprocessing, max_pixels=running.max_pixels)
    if running.workers == 0:
        running = running.replace(workers=int(getattr(data, "num_workers", 0) or 0))
    fresh = identity(subject.loaded, source, subject.layers, settings, running.batch_size, shard)
    if subject.transforms:  # a layer read through a dictionary: its latents are the scanned channels
        fresh["transforms"] = subject.to_dict()["transforms"]
    path = _shard_path(out, world)
    state = _open_state(path, fresh, writing.overwrite)
    who = f"rank {world.rank}: " if world is not None else ""
    if state.meta["complete"]:
        log.info("%sshard %s is already complete in %s", who, shard, path)
    elif state.meta["done"]["batches"]:
        done = state.meta["done"]
        log.info("%sresuming shard %s from batch %d (%d inputs done) in %s", who, shard, done["batches"],
                 done["positions"], path)
    kept = f"The shard states written so far are kept in {path.parent}; run the same command again to resume."
    previous = on_terminate(world, kept) if world is not None else None
    shown = running.progress if world is None or world.rank == 0 else False
    label = f"scan {shard}" if shard.count > 1 else "scan"
    total = source.shard_size(shard)
    what = f"{len(subject.layers)} layers x {total} inputs on {running.device or 'cpu'}" if total else ""
    bar = Progress(total, desc=label, unit="img", enabled=shown, initial=state.meta["done"]["positions"], what=what,
                   long_after=running.long_after)
    try:
        state = scan_shard(subject, source, state, path, shard=shard, run=running, save_every=settings.save_every,
                           progress=bar)
        if world is not None:
            world.barrier()
            if world.rank == 0:
                state, path = _finish(world, out, kept), out / STATE_FILE
    except Exception as err:
        if world is not None:
            log.error("rank %d of %d failed: %s. %s", world.rank, world.size, err, kept)
        raise
    finally:
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return ScanStats(state, path)
