"""How often each channel is active: positions above a threshold, and inputs with at least one such position.

>>> import torch
>>> maps = torch.tensor([[[[0.0, 2.0]], [[-1.0, -1.0]]], [[[0.0, 0.0]], [[-1.0, 3.0]]]])  # (N=2, C=2, 1, 2)
>>> r = Activity(2).update(maps[:1]).merge(Activity(2).update(maps[1:])).result()
>>> r.positions.tolist(), r.values.tolist(), r.inputs.tolist(), r.total
([1, 1], [4, 4], [1, 1], 2)

A channel active on no position of any of N inputs is dead on that data, and the more inputs
the stronger that evidence; one active on a small share of inputs is rarely active. Every entry
is a count, so merges are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from ..errors import InputError
from ._base import Accumulator

__all__ = ["Activity", "ActivityResult"]


@dataclass
class ActivityResult:
    """Per channel: ``positions`` above the threshold, of ``values`` seen; ``inputs`` with at least one
    such position, of ``total`` inputs."""

    threshold: float
    positions: np.ndarray
    values: np.ndarray
    inputs: np.ndarray
    total: int

    @property
    def position_share(self) -> np.ndarray:
        """Share of positions active (NaN before any input)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.positions / self.values

    @property
    def input_share(self) -> np.ndarray:
        """Share of inputs on which the channel is active somewhere (NaN before any input)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.inputs / np.float64(self.total)


class Activity(Accumulator):
    """Counts of values above ``threshold`` (NaN is never active) and of the inputs that have one, per channel."""

    _SIZED = "positions"

    def __init__(self, channels: int, threshold: float = 0.0) -> None:
        self.threshold = float(threshold)
        super().__init__(channels)

    def __repr__(self) -> str:
        return f"Activity({self.channels}, threshold={self.threshold:g})"

    @classmethod
    def _blank(cls, state: Mapping[str, Any]) -> "Activity":
        if "threshold" not in state:
            raise InputError("Activity.from_state: the state has no 'threshold'; pass an Activity's state_dict().")
        return cls(cls._channels_in(state), float(state["threshold"]))

    def _empty(self, device: torch.device) -> dict[str, torch.Tensor]:
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.int64, device=device)  # noqa: E731
        return {
            "positions": zeros(self.channels), "values": zeros(self.channels), "inputs": zeros(self.channels),
            "total": zeros(()), "threshold": torch.tensor(self.threshold, dtype=torch.float64, device=device),
        }

    def _batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        above = (x > self.threshold).reshape(x.shape[0], self.channels, -1)
        return self.counted(above.sum(-1), above.shape[-1])

    def counted(self, positions: torch.Tensor, size: int) -> dict[str, torch.Tensor]:
        """The state of one batch from its per-map counts ``positions`` (N, C) of maps with ``size`` positions."""
        n = positions.shape[0]
        device = positions.device
        return {
            "positions": positions.sum(0, dtype=torch.int64), "values": torch.full((self.channels,), n * size, device=device),
            "inputs": (positions > 0).sum(0, dtype=torch.int64), "total": torch.tensor(n, device=device),
            "threshold": torch.tensor(self.threshold, dtype=torch.float64, device=device),
        }

    def _combine(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**{k: a[k] + b[k] for k in ("positions", "values", "inputs", "total")}, "threshold": a["threshold"]}

    def _check_mergeable(self, other: Any) -> None:
        super()._check_mergeable(other)
        if other.threshold != self.threshold:
            raise InputError(
                f"Cannot merge {other!r} into {self!r}: the activity thresholds differ; count every part alike."
            )

    def result(self) -> ActivityResult:
        s = self._numpy()
        return ActivityResult(self.threshold, s["positions"], s["values"], s["inputs"], int(s["total"]))
