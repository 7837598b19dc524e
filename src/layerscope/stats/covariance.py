"""The C x C covariance of the channels, over every position of every input, merged in any order.

>>> import torch
>>> x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])  # two inputs (N=2) of C=2 values: channel 1 is twice channel 0
>>> cov = Covariance(2).update(x[:1]).merge(Covariance(2).update(x[1:])).result()
>>> cov.count, cov.mean.tolist(), cov.matrix.tolist()
(2, [2.0, 4.0], [[1.0, 2.0], [2.0, 4.0]])

Each position of each input is one sample of a C-vector; a non-finite value counts as 0 (the
diagnosis keeps the layer's rank meaningful when one channel overflows). Co-moments are merged
with Chan et al.'s formula like :class:`~layerscope.stats.Moments`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._base import Accumulator
from .moments import chan_merge

__all__ = ["Covariance", "CovarianceResult"]

_CHUNK = 1 << 22  # values per chunk of the co-moment product


@dataclass
class CovarianceResult:
    """``count`` samples, their ``mean`` (C,) and population covariance ``matrix`` (C, C; NaN without samples)."""

    count: int
    mean: np.ndarray
    matrix: np.ndarray


class Covariance(Accumulator):
    """Count, mean and co-moment matrix (sum of outer products of deviations) of the channel vectors, in float64."""

    def _empty(self, device: torch.device) -> dict[str, torch.Tensor]:
        c = self.channels
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=device)  # noqa: E731
        return {"count": zeros(()), "mean": zeros(c), "m2": zeros(c, c)}

    def _batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = x.movedim(1, -1).reshape(-1, self.channels)
        rows = torch.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0)
        n = rows.shape[0]
        mean = rows.sum(0) / max(n, 1)
        m2 = torch.zeros(self.channels, self.channels, dtype=torch.float64, device=x.device)
        for chunk in rows.split(max(1, _CHUNK // self.channels)):
            centered = chunk - mean
            m2 += centered.T @ centered
        return {"count": torch.tensor(float(n), dtype=torch.float64, device=x.device), "mean": mean, "m2": m2}

    def _combine(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        count, mean, m2 = chan_merge(a["count"], a["mean"], a["m2"], b["count"], b["mean"], b["m2"])
        return {"count": count, "mean": mean, "m2": m2}

    def result(self) -> CovarianceResult:
        s = self._numpy()
        count = float(s["count"])
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix = s["m2"] / s["count"]
        return CovarianceResult(count=int(count), mean=s["mean"] if count else np.full(self.channels, np.nan), matrix=matrix)
