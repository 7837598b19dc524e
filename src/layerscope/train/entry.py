"""What one log of a :class:`~layerscope.train.Monitor` holds, and its JSON form.

>>> import numpy as np
>>> from layerscope.stats import Histogram
>>> import torch
>>> layer = LayerLog("conv1", [], Histogram(1, [0.0, 1.0, 2.0]).update(torch.tensor([[0.5], [1.5]])).result(),
...                  {"dead": 0.0, "scale": 1.2})
>>> entry = LogEntry(100, {"conv1": layer}, "trained", 0.2)
>>> entry.to_dict()["layers"]["conv1"]["histogram"]["counts"]
[1, 1]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..core.jsonio import jsonable
from ..render import ChannelGrid
from ..render.colormap import BACKGROUND
from ..stats import HistogramResult

__all__ = ["LayerLog", "LogEntry", "NUMBERS"]

# the diagnosis numbers logged per layer (shares of channels, then layer-wide measures)
NUMBERS = ("dead", "uniform", "noisy", "saturated", "nonfinite", "scale", "effective_rank", "noise")


@dataclass
class LayerLog:
    """One layer at one step: the probe batch's grids (one per input), a histogram of every value, the numbers."""

    name: str
    grids: list[ChannelGrid]
    histogram: HistogramResult
    numbers: dict[str, Optional[float]]
    verdict: str = ""

    def histogram_dict(self) -> dict[str, Any]:
        h = self.histogram
        return {"edges": h.edges[0], "counts": h.counts[0], "underflow": int(h.underflow[0]),
                "overflow": int(h.overflow[0]), "nan": int(h.nan[0])}

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, **self.numbers, "histogram": self.histogram_dict()}


@dataclass
class LogEntry:
    """Every monitored layer at one training step, and the model's tendency (``trained`` / ``untrained`` ...)."""

    step: int
    layers: dict[str, LayerLog]
    tendency: str
    tendency_score: Optional[float]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON line of this step (grids excluded: they are pictures)."""
        return jsonable({"step": self.step, "tendency": self.tendency, "tendency_score": self.tendency_score,
                         "layers": {name: layer.to_dict() for name, layer in self.layers.items()},
                         "notes": self.notes}, digits=6)

    def stacked(self, name: str) -> np.ndarray:
        """The grids of layer ``name`` for every probe input, one under the other (palette indices)."""
        grids = [g.indices for g in self.layers[name].grids]
        width = max(g.shape[1] for g in grids)
        rows = []
        for grid in grids:
            pad = np.full((grid.shape[0], width - grid.shape[1]), BACKGROUND, np.uint8)
            rows += [np.concatenate([grid, pad], axis=1), np.full((4, width), BACKGROUND, np.uint8)]
        return np.concatenate(rows[:-1])
