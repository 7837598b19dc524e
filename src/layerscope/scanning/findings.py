"""Dataset-level findings from a scan: dead and rarely active channels, with the evidence behind them.

>>> import tempfile, torch, torch.nn as nn, layerscope
>>> conv = nn.Conv2d(1, 3, 3)
>>> with torch.no_grad():
...     _ = conv.weight.zero_(), conv.bias.copy_(torch.tensor([-1.0, 1.0, 0.0]))
>>> stats = layerscope.scan(conv, torch.randn(50, 1, 6, 6), out=tempfile.mkdtemp(), progress=False)
>>> found = dataset_findings(stats)
>>> found.layers[0].dead, found.layers[0].rare
([0, 2], [])

A channel that is never above 0 on any position of any of N inputs is dead on that data, and
the evidence grows with N (one image says little; a dataset says much). A channel active on
some inputs but fewer than ``rare`` of them (default :data:`RARE`, 1%) is rarely active: a
detector of something rare in this data, or nearly dead. ``layerscope diagnose --stats DIR``
prints these.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ..core.jsonio import jsonable
from ..errors import InputError
from .result import ScanStats, load_stats

__all__ = ["dataset_findings", "DatasetFindings", "LayerFindings", "RARE"]

RARE = 0.01


@dataclass
class LayerFindings:
    """``dead`` channels (never active on any input) and ``rare`` ones (active on fewer than the threshold
    share of inputs, ``shares`` per channel) of one layer, over ``inputs`` inputs."""

    layer: str
    channels: int
    inputs: int
    dead: list[int]
    rare: list[int]
    shares: dict[int, float] = field(default_factory=dict)


@dataclass
class DatasetFindings:
    """The findings of every scanned layer, with what the scan covered."""

    inputs: int
    whole: bool
    shards: list[str]
    rare: float
    layers: list[LayerFindings]

    def to_dict(self) -> dict:
        return jsonable(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        """A few lines for people: per layer, the dead and rarely active channels."""
        cover = "the whole data" if self.whole else f"shards {', '.join(self.shards)} of the data"
        lines = [f"dataset scan: {self.inputs:,} inputs ({cover})"]
        width = max((len(f.layer) for f in self.layers), default=5)
        for f in self.layers:
            parts = []
            if f.dead:
                parts.append(f"dead {len(f.dead)} (never active on any of {f.inputs:,} inputs): {_list(f.dead)}")
            if f.rare:
                shown = ", ".join(f"{c} ({100 * f.shares[c]:.2g}%)" for c in f.rare[:8])
                parts.append(f"rarely active {len(f.rare)} (on < {100 * self.rare:g}% of inputs): {shown}"
                             + (f" and {len(f.rare) - 8} more" if len(f.rare) > 8 else ""))
            text = "; ".join(parts) if parts else "every channel active on at least " f"{100 * self.rare:g}% of inputs"
            lines.append(f"  {f.layer:<{width}}  {f.channels:>5} ch  {text}")
        return "\n".join(lines)


def _list(channels: list[int], limit: int = 12) -> str:
    shown = ", ".join(map(str, channels[:limit]))
    return shown + (f" and {len(channels) - limit} more" if len(channels) > limit else "")


def dataset_findings(stats: Union[ScanStats, str, Any], *, rare: float = RARE) -> DatasetFindings:
    """The :class:`DatasetFindings` of a scan result (a :class:`ScanStats` or its folder)."""
    if not 0 <= rare < 1:
        raise InputError(f"rare={rare!r} must be a share of inputs in [0, 1), e.g. 0.01 for 1%.")
    stats = stats if isinstance(stats, ScanStats) else load_stats(stats)
    layers = []
    for name in stats.layers:
        layer = stats[name]
        counts, total = layer.activity.inputs, layer.activity.total
        share = counts / total if total else np.zeros_like(counts, dtype=np.float64)
        dead = [int(c) for c in np.flatnonzero(counts == 0)]
        rarely = [int(c) for c in np.flatnonzero((counts > 0) & (share < rare))]
        layers.append(LayerFindings(name, layer.channels, int(total), dead, rarely, {c: float(share[c]) for c in rarely}))
    return DatasetFindings(stats.inputs, stats.whole, stats.shards, rare, layers)
