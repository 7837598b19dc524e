"""The sums behind :class:`~layerscope.stats.ChannelStats`'s diagnosis-specific shares, as one accumulator.

>>> import torch
>>> sums = MapSums(1, bounds=(None, 6.0)).update(torch.tensor([[[[0.0, 6.0]]]]))
>>> {k: v.tolist() for k, v in sums.result().items() if k in ("active", "at_bound", "svar_sum")}
{'active': [1.0], 'at_bound': [1.0], 'svar_sum': [9.0]}
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ._base import Accumulator, per_channel
from .maps import noise_score, peak_positions, spatial_variance

__all__ = ["MapSums"]

_SUMS = ("active", "at_bound", "svar_sum", "svar_n", "noise_sum", "noise_n", "peak_n")


class MapSums(Accumulator):
    """Per channel: values above ``active`` and on a clamp bound; over the finite maps, the sums of the
    spatial variance and of the peak position (and its square); over the maps of at least
    ``min_noise_size`` pixels a side, the sum of the noise scores. Every entry merges by addition.
    """

    _SIZED = "active"

    def __init__(
        self,
        channels: int,
        bounds: Optional[tuple[Optional[float], Optional[float]]] = None,
        active: float = 0.0,
        saturation_tol: float = 1e-3,
        min_noise_size: int = 4,
    ) -> None:
        self.bounds, self.active = bounds, active
        self.saturation_tol, self.min_noise_size = saturation_tol, min_noise_size
        super().__init__(channels)

    def _empty(self, device: torch.device) -> dict[str, torch.Tensor]:
        c = self.channels
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=device)  # noqa: E731
        return {**{name: zeros(c) for name in _SUMS}, "peak_sum": zeros(c, 2), "peak_sq": zeros(c, 2)}

    def update(self, x: torch.Tensor, scored: Optional[torch.Tensor] = None) -> "MapSums":
        """Add a batch of maps ``(N, C, H, W)``; ``scored`` (bool, one per input) says which get noise scores."""
        batch = self._check_batch(x)
        if batch.numel():
            self._fold(self._batch(batch, scored), placed=True)
        return self

    def _batch(self, x: torch.Tensor, scored: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        state = self._empty(x.device)
        rows = per_channel(x)
        state["active"] += ((rows > self.active) & torch.isfinite(rows)).sum(1)
        state["at_bound"] += self._at_bound(rows).sum(1)
        height, width = x.shape[-2:]
        if height * width > 1:
            self._spatial(state, x, scored)
        return state

    def _at_bound(self, values: torch.Tensor) -> torch.Tensor:
        hits = torch.zeros_like(values, dtype=torch.bool)
        if self.bounds is None:
            return hits
        low, high = self.bounds
        span = (high - low) if low is not None and high is not None else 1.0
        tol = self.saturation_tol * span
        if low is not None:
            hits |= values <= low + tol
        if high is not None:
            hits |= values >= high - tol
        return hits

    def _spatial(self, state: dict[str, torch.Tensor], x: torch.Tensor, scored: Optional[torch.Tensor]) -> None:
        map_ok = torch.isfinite(x).flatten(2).all(-1)  # (N, C)
        state["svar_sum"] += torch.where(map_ok, spatial_variance(x), 0.0).sum(0)
        state["svar_n"] += map_ok.sum(0)
        peaks = peak_positions(x)  # (N, C, 2)
        ok = map_ok[..., None]
        state["peak_sum"] += torch.where(ok, peaks, 0.0).sum(0)
        state["peak_sq"] += torch.where(ok, peaks.square(), 0.0).sum(0)
        state["peak_n"] += map_ok.sum(0)
        if min(x.shape[-2:]) >= self.min_noise_size:
            score = noise_score(x)
            ok = torch.isfinite(score)
            if scored is not None:
                ok &= scored.to(ok.device)[:, None]
            state["noise_sum"] += torch.where(ok, score, 0.0).sum(0)
            state["noise_n"] += ok.sum(0)

    def _combine(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: a[name] + b[name] for name in a}

    def result(self) -> dict[str, np.ndarray]:
        """The sums by name, numpy on the CPU."""
        return self._numpy()
