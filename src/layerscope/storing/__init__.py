"""The activation store: chosen layers' activations over a dataset as rows on disk, read back chunk by chunk.

>>> import tempfile, torch, torch.nn as nn, layerscope as ls
>>> out = tempfile.mkdtemp()
>>> store = ls.dump(nn.Sequential(nn.Conv2d(1, 4, 3)), torch.randn(20, 1, 8, 8), out=out, positions=5, progress=False)
>>> acts = ls.load_activations(out, layer="0")
>>> len(acts), acts.channels, sum(len(chunk) for chunk in acts)
(100, 4, 100)

``layerscope.dump(model, data, layers=..., out=DIR)`` (:func:`.writer.dump`) streams a dataset through a model
(the scan's sources, shards and ``torchrun`` ranks) and writes each layer's activations as rows
(``position x channels``; vector layers and ``pooled`` one row per input; ``positions=K``: K random positions
per input, seeded) to part files with an index (:mod:`.parts`), float16 by default, resumable after a kill
to the same bytes. :func:`load_activations` (:mod:`.reader`) reads them back part by part as
:class:`Chunk` s or as a ``Dataset`` of rows; :func:`merge_stores` (:mod:`.merging`) merges the stores of
disjoint shards (``layerscope merge`` dispatches stores to it). Settings: :class:`DumpOptions` (:mod:`.options`).
"""

from .merging import merge_stores
from .options import DumpOptions
from .parts import is_store
from .reader import Chunk, RowDataset, StoredActivations, load_activations
from .rows import draw_positions
from .writer import dump

__all__ = ["dump", "load_activations", "merge_stores", "is_store", "DumpOptions", "Chunk", "StoredActivations",
           "RowDataset", "draw_positions"]
