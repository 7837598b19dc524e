"""The scan's own settings: one frozen, validated :class:`ScanOptions` (the run's are in :mod:`layerscope.run.options`).

>>> ScanOptions(k=4, shard="1/3").shard
Shard(index=1, count=3)
>>> ScanOptions(k=0)
Traceback (most recent call last):
...
layerscope.errors.InputError: k=0 must be an int of at least 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..core.options import Options, positive_int
from ..errors import InputError
from ..io.shard import Shard
from ..stats import PEAK_EDGES

__all__ = ["ScanOptions", "SCAN_BATCH_SIZE"]

SCAN_BATCH_SIZE = 32  # the scan's default batch size (RunOptions' default is for one-image verbs)


@dataclass(frozen=True)
class ScanOptions(Options):
    """What a scan keeps. ``k``: the inputs kept per channel in each top-k list; ``edges``: the bin edges of
    the histogram of each input's peak (None: :data:`~layerscope.stats.PEAK_EDGES`); ``active``: the activity
    threshold; ``shard``: scan only shard ``"i/N"`` (inputs i, i+N, ...; None: all); ``save_every``: batches
    between checkpoints of the state."""

    k: int = field(default=9, metadata={"help": "inputs kept per channel (default 9)", "flag": "--top-k",
                                        "metavar": "K", "type": int})
    edges: Optional[tuple[float, ...]] = None
    active: float = 0.0
    shard: Optional[Shard] = field(default=None, metadata={
        "help": "scan only shard I of N (inputs I, I+N, ...); merge the folders with `layerscope merge`",
        "metavar": "I/N"})
    save_every: int = field(default=50, metadata={"help": "checkpoint the state every N batches (default 50)",
                                                  "metavar": "N", "type": int})

    def __post_init__(self) -> None:
        positive_int(self, "k")
        positive_int(self, "save_every")
        if self.shard is not None:
            object.__setattr__(self, "shard", Shard.parse(self.shard))
        if self.edges is not None:
            try:
                edges = tuple(float(e) for e in self.edges)
            except (TypeError, ValueError):
                raise InputError(f"edges={self.edges!r}: give increasing numbers (histogram bin edges).") from None
            if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
                raise InputError(f"edges={self.edges!r}: give two or more increasing numbers (histogram bin edges).")
            object.__setattr__(self, "edges", edges)
        if isinstance(self.active, bool) or not isinstance(self.active, (int, float)):
            raise InputError(f"active={self.active!r} must be a number (the activity threshold).")
        object.__setattr__(self, "active", float(self.active))

    @property
    def bin_edges(self) -> Any:
        """The histogram's edges: ``edges``, or :data:`~layerscope.stats.PEAK_EDGES`."""
        return PEAK_EDGES if self.edges is None else self.edges
