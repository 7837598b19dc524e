"""Is it learning? Feature maps, histograms and diagnosis numbers logged while a model trains.

>>> import torch, torch.nn as nn, tempfile
>>> from layerscope.train import Monitor, FolderSink
>>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 8, 3))
>>> probe = torch.randn(2, 1, 16, 16)
>>> monitor = Monitor(model, every=100, inputs=probe, sink=FolderSink(tempfile.mkdtemp() + "/run"))
>>> entry = monitor.step()            # step 0 logs: grids, histogram, numbers per layer
>>> sorted(entry.layers), sorted(entry.layers["1"].numbers)[:3]
(['1', '2'], ['dead', 'effective_rank', 'noise'])
>>> monitor.close()

:class:`Monitor` (:mod:`.monitor`) goes in any training loop; it writes to a
:class:`FolderSink` (JSON lines + PNG) or a :class:`TensorBoardSink` (:mod:`.sinks`).
"""

from .entry import LayerLog, LogEntry
from .monitor import Monitor
from .options import MonitorOptions
from .sinks import FolderSink, Sink, TensorBoardSink

__all__ = ["Monitor", "MonitorOptions", "FolderSink", "TensorBoardSink", "Sink", "LogEntry", "LayerLog"]
