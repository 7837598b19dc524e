"""Dataset scan: what each channel responds to across a whole dataset, streaming, resumable, distributed.

>>> import tempfile, torch, torch.nn as nn, layerscope
>>> out = tempfile.mkdtemp()
>>> stats = layerscope.scan(nn.Sequential(nn.Conv2d(1, 4, 3)), torch.randn(20, 1, 8, 8), out=out, progress=False)
>>> stats is not None and layerscope.load_stats(out).inputs
20

``layerscope.scan(model, data, out=DIR)`` (:func:`.run.scan`) streams a dataset through a
model and keeps, per layer and channel, statistics whose memory does not grow with the
dataset (:class:`~layerscope.stats.ResponseStats`), checkpointed atomically to
``DIR/stats.safetensors`` (:mod:`.state`) so a killed scan resumes to the same bytes. Shards
(``shard="i/N"``, or every rank under ``torchrun``, :mod:`.distributed`) merge exactly
(:func:`merge`, :mod:`.merge`). :func:`~layerscope.load_stats` reads a result back as a
:class:`ScanStats` (:mod:`.result`): per-layer arrays, each channel's top-k inputs with the
receptive-field box of their argmax (:mod:`.receptive`), crops rendered on demand and checked
against the stored value (:mod:`.crops`), and dataset-level findings (:mod:`.findings`).
Settings: :class:`ScanOptions` (:mod:`.options`) with the run's :class:`~layerscope.run.RunOptions` and
:class:`~layerscope.run.OutputOptions`. Data: read through the one input protocol of :mod:`layerscope.io`
(:func:`~layerscope.io.inputs.resolve_source`, sources with global indices, :class:`Shard`).
"""

from ..io.inputs import resolve_source
from ..io.shard import Shard
from .merging import merge_files
from .options import ScanOptions
from .result import LayerStats, ScanStats, TopEntry, load_stats
from .run import scan
from .state import state_path

__all__ = ["scan", "load_stats", "merge", "ScanStats", "LayerStats", "TopEntry", "Shard", "ScanOptions",
           "resolve_source"]


def merge(parts, out, *, overwrite: bool = False) -> ScanStats:
    """Merge the result folders ``parts`` (disjoint shards of one scan) into ``out``; returns the result.

    Counts, extrema, histograms and top-k lists merge exactly, means and variances to float64
    rounding; parts of other models, layers, preprocessing or data, and overlapping shards, are
    refused with a message that says which.
    """
    merged = merge_files(list(parts), out, overwrite=overwrite)
    return ScanStats(merged, state_path(out))
