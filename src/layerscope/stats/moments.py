"""Per-channel moments (count, mean, variance) and extrema of the finite values, merged exactly in any order.

>>> import torch
>>> x = torch.tensor([[1.0, 0.0], [3.0, float("nan")], [5.0, float("inf")], [7.0, 2.0]])  # (N=4, C=2)
>>> m = Moments(2).update(x[:1]).merge(Moments(2).update(x[1:])).result()
>>> m.count.tolist(), m.mean.tolist(), m.var.tolist(), m.nan.tolist(), m.posinf.tolist()
([4, 2], [4.0, 1.0], [5.0, 1.0], [0, 1], [0, 1])

Means and sums of squared deviations (M2) are merged with Chan et al.'s pairwise formula
(*Updating formulae and a pairwise algorithm for computing sample variances*, 1979), so any
split of the data into batches, in any order, gives one pass's result up to float64 rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._base import Accumulator, per_channel

__all__ = ["Moments", "MomentsResult", "Extrema", "ExtremaResult", "chan_merge", "pooled"]


def chan_merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Chan et al.: (count, mean, M2) of two disjoint parts as one; M2 is a vector or a co-moment matrix.

    >>> t = lambda *v: torch.tensor(v, dtype=torch.float64)
    >>> [v.tolist() for v in chan_merge(t(2.0), t(1.0), t(2.0), t(1.0), t(4.0), t(0.0))]  # [0, 2] and [4]
    [[3.0], [2.0], [8.0]]
    """
    n = n_a + n_b
    safe = n.clamp_min(1)
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / safe)
    weight = n_a * n_b / safe
    spread = torch.outer(delta, delta) if m2_a.dim() == 2 else delta.square()
    return n, mean, m2_a + m2_b + torch.where(weight > 0, spread * weight, torch.zeros_like(spread))


def pooled(count: torch.Tensor, mean: torch.Tensor, m2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(count, mean, M2) of the groups along dim 0 pooled into one (Chan et al. for many parts at once).

    >>> t = lambda *v: torch.tensor(v, dtype=torch.float64)[:, None]
    >>> [v.tolist() for v in pooled(t(2.0, 1.0), t(1.0, 4.0), t(2.0, 0.0))]  # [0, 2] and [4]
    [[3.0], [2.0], [8.0]]
    """
    total = count.sum(0)
    center = (count * mean).sum(0) / total.clamp_min(1)
    spread = (count * (mean - center).square()).sum(0)
    return total, center, m2.sum(0) + spread


@dataclass
class MomentsResult:
    """Per-channel arrays (length C): ``count`` finite values, their ``mean`` and population ``var``
    (NaN without finite values), and how many values were NaN, +Inf and -Inf."""

    count: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    nan: np.ndarray
    posinf: np.ndarray
    neginf: np.ndarray

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var)

    @property
    def rms(self) -> np.ndarray:
        """Root mean square of the finite values."""
        return np.sqrt(self.var + self.mean**2)

    @property
    def values(self) -> np.ndarray:
        """Every value seen, finite or not."""
        return self.count + self.nan + self.posinf + self.neginf


class Moments(Accumulator):
    """Count, mean and M2 (sum of squared deviations) of each channel's finite values, in float64.

    NaN, +Inf and -Inf are left out of the moments and counted apart.
    """

    def _empty(self, device: torch.device) -> dict[str, torch.Tensor]:
        floats = {name: torch.zeros(self.channels, dtype=torch.float64, device=device) for name in ("count", "mean", "m2")}
        counts = {name: torch.zeros(self.channels, dtype=torch.int64, device=device) for name in ("nan", "posinf", "neginf")}
        return floats | counts

    def _batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = per_channel(x)
        finite = torch.isfinite(rows)
        count = finite.sum(1).to(torch.float64)
        mean = torch.where(finite, rows, 0.0).sum(1) / count.clamp_min(1)
        m2 = torch.where(finite, rows - mean[:, None], torch.zeros_like(mean[:, None])).square().sum(1)
        return {
            "count": count, "mean": mean, "m2": m2, "nan": torch.isnan(rows).sum(1),
            "posinf": (rows == math.inf).sum(1), "neginf": (rows == -math.inf).sum(1),
        }

    def _combine(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        count, mean, m2 = chan_merge(a["count"], a["mean"], a["m2"], b["count"], b["mean"], b["m2"])
        return {"count": count, "mean": mean, "m2": m2, **{k: a[k] + b[k] for k in ("nan", "posinf", "neginf")}}

    def result(self) -> MomentsResult:
        s = self._numpy()
        count = s["count"]
        with np.errstate(invalid="ignore", divide="ignore"):
            var = s["m2"] / count
        return MomentsResult(
            count=count.astype(np.int64), mean=np.where(count > 0, s["mean"], np.nan), var=var,
            nan=s["nan"], posinf=s["posinf"], neginf=s["neginf"],
        )


@dataclass
class ExtremaResult:
    """Per-channel ``min`` and ``max`` of the finite values (NaN for a channel without one)."""

    min: np.ndarray
    max: np.ndarray


class Extrema(Accumulator):
    """Minimum and maximum of each channel's finite values."""

    _SIZED = "min"

    def _empty(self, device: torch.device) -> dict[str, torch.Tensor]:
        c = self.channels
        return {
            "min": torch.full((c,), math.inf, dtype=torch.float64, device=device),
            "max": torch.full((c,), -math.inf, dtype=torch.float64, device=device),
        }

    def _batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = per_channel(x)
        finite = torch.isfinite(rows)
        return {"min": torch.where(finite, rows, math.inf).amin(1), "max": torch.where(finite, rows, -math.inf).amax(1)}

    def _combine(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"min": torch.minimum(a["min"], b["min"]), "max": torch.maximum(a["max"], b["max"])}

    def result(self) -> ExtremaResult:
        s = self._numpy()
        low, high = s["min"], s["max"]
        seen = low <= high  # a finite value was seen
        return ExtremaResult(min=np.where(seen, low, np.nan), max=np.where(seen, high, np.nan))
