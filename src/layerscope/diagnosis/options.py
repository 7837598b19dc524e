"""The settings of :func:`layerscope.diagnose` (:class:`DiagnoseOptions`); how it runs is a :class:`~layerscope.run.RunOptions`.

>>> DiagnoseOptions(thresholds={"dead_bad": 0.4}).thresholds.dead_bad
0.4
>>> DiagnoseOptions(thresholds=["noisy=0.7"], channel_order=False).thresholds.noisy
0.7
>>> DiagnoseOptions(thresholds={"dead_bda": 0.4})
Traceback (most recent call last):
...
layerscope.errors.InputError: Unknown threshold 'dead_bda'. Did you mean 'dead_bad'? ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ..core.options import Options, share_out
from ..errors import InputError
from ..run.options import RunOptions
from .thresholds import Thresholds

__all__ = ["DiagnoseOptions", "DIAGNOSE_RUN", "diagnose_options"]

DIAGNOSE_RUN = RunOptions(batch_size=32)  # diagnose streams datasets: bigger batches than the other verbs


@dataclass(frozen=True)
class DiagnoseOptions(Options):
    """``thresholds``: a :class:`~layerscope.diagnosis.Thresholds`, a mapping of overrides or ``"name=value"``
    strings (CLI ``--threshold``); ``channel_order=False`` skips the extra forward pass of the BGR/RGB
    check (which needs a trained classifier); ``predictions``: how many inputs keep their top classes;
    ``effective_rank=True`` measures each layer's effective rank too (off by default: it reads every position of every
    channel against every other channel, O(C²) each, more than the forward pass on a wide layer)."""

    thresholds: Any = field(default_factory=Thresholds, metadata={
        "help": "override a threshold (repeatable), e.g. --threshold dead_bad=0.4; see docs/diagnose.md",
        "flag": "--threshold", "action": "append", "metavar": "NAME=VALUE"})
    channel_order: bool = field(default=True, metadata={
        "help": "skip the BGR/RGB check (one extra forward pass on up to 64 images; it only works for a trained "
                "classifier)", "flag": "--no-channel-order", "action": "store_false"})
    predictions: int = 8
    effective_rank: bool = field(default=False, metadata={
        "help": "also measure each layer's effective rank (the participation ratio of its channel covariance: "
                "O(C^2) per position, the cost of a forward pass or more on wide layers)", "flag": "--effective-rank",
        "action": "store_true"})

    def __post_init__(self) -> None:
        if not isinstance(self.thresholds, Thresholds):
            object.__setattr__(self, "thresholds", Thresholds().with_overrides(self.thresholds))
        if not isinstance(self.channel_order, bool):
            raise InputError(f"channel_order={self.channel_order!r} must be True or False.")
        if not isinstance(self.effective_rank, bool):
            raise InputError(f"effective_rank={self.effective_rank!r} must be True or False.")
        if isinstance(self.predictions, bool) or not isinstance(self.predictions, int) or self.predictions < 0:
            raise InputError(f"predictions={self.predictions!r} must be an int of at least 0.")


def diagnose_options(options: Optional[DiagnoseOptions], run: Optional[RunOptions],
                     fields: Mapping[str, Any]) -> tuple[DiagnoseOptions, RunOptions]:
    """The options of a diagnosis from the objects given and keywords naming fields of either."""
    mine, running, _ = share_out("diagnose", fields, DiagnoseOptions, RunOptions)
    return DiagnoseOptions.of(options, **mine), RunOptions.of(DIAGNOSE_RUN if run is None else run, **running)
