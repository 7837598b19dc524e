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
:class:`FolderSink` (JSON lines + PNG), a :class:`TensorBoardSink` or a :class:`MetricsSink` (:mod:`.sinks`).
In Lightning, ``MonitorCallback`` (:mod:`.lightning`, extra ``layerscope[lightning]``) is that Monitor as a
callback writing through the trainer's loggers; it is imported when first used, so ``import layerscope``
does not import Lightning (and it is left out of ``__all__``, so ``import *`` does not either).
"""

from typing import Any

from .entry import LayerLog, LogEntry
from .monitor import Monitor
from .options import MonitorOptions
from .sinks import FolderSink, MetricsSink, Sink, TensorBoardSink

__all__ = ["Monitor", "MonitorOptions", "FolderSink", "TensorBoardSink", "MetricsSink", "Sink", "LogEntry", "LayerLog"]


def __getattr__(name: str) -> Any:
    if name == "MonitorCallback":  # needs the optional lightning: imported on first use
        from .lightning import MonitorCallback

        return MonitorCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
