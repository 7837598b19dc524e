"""The sums behind :class:`~layerscope.stats.ChannelStats`'s diagnosis-specific shares, as one accumulator.

>>> import torch
>>> sums = MapSums(1, bounds=(None, 6.0)).update(torch.tensor([[[[0.0, 6.0]]]]))
>>> {k: v.tolist() for k, v in sums.result().items() if k in ("active", "at_bound", "svar_sum")}
{'active': [1.0], 'at_bound': [1.0], 'svar_sum': [9.0]}
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from ._base import Accumulator
from ._reduce import SHAKY as _SHAKY
from ._reduce import MapReduction, reduce_maps
from .maps import CONSTANT_REL, low_band_energy, peak_fractions, white_noise_share

__all__ = ["MapSums"]

_SUMS = ("active", "at_bound", "svar_sum", "svar_n", "noise_sum", "noise_n", "peak_n")


class MapSums(Accumulator):
    """Per channel: values above ``active`` and on a clamp bound; over the finite maps, the sums of the
    spatial variance and of the peak position (and its square); over the maps of at least
    ``min_noise_size`` pixels a side, the sum of the noise scores. Every entry merges by addition.

    ``noise_values`` bounds the noise score's work: of each batch, only the maps of its first inputs
    are scored, as many as fit in that many map values (at least one input). The score is a mean over
    inputs, so this is a sample of it; None scores every map.
    """

    _SIZED = "active"

    def __init__(
        self,
        channels: int,
        bounds: Optional[tuple[Optional[float], Optional[float]]] = None,
        active: float = 0.0,
        saturation_tol: float = 1e-3,
        min_noise_size: int = 4,
        noise_values: Optional[int] = None,
    ) -> None:
        self.bounds, self.active = bounds, active
        self.saturation_tol, self.min_noise_size, self.noise_values = saturation_tol, min_noise_size, noise_values
        super().__init__(channels)

    def _empty(self, device: torch.device) -> dict[str, torch.Tensor]:
        c = self.channels
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=device)  # noqa: E731
        return {**{name: zeros(c) for name in _SUMS}, "peak_sum": zeros(c, 2), "peak_sq": zeros(c, 2)}

    def update(self, x: torch.Tensor, scored: Optional[torch.Tensor] = None) -> "MapSums":
        """Add a batch of maps ``(N, C, H, W)``; ``scored`` (bool, one per input) says which get noise scores."""
        batch = self._check_batch(x)
        if batch.numel():
            self.add(reduce_maps(batch, self.active, argmax=True, bounds=self.thresholds()), tuple(batch.shape[2:]),
                     scored)
        return self

    def thresholds(self) -> Optional[tuple[Optional[float], Optional[float]]]:
        """The values counted as on a clamp bound: at or below the first, at or above the second (None: no side).

        >>> MapSums(1, bounds=(0.0, 6.0)).thresholds()
        (0.006, 5.994)
        """
        if self.bounds is None:
            return None
        low, high = self.bounds
        span = (high - low) if low is not None and high is not None else 1.0
        tol = self.saturation_tol * span
        return (None if low is None else low + tol, None if high is None else high - tol)

    def add(self, r: MapReduction, size: tuple[int, ...], scored: Optional[torch.Tensor] = None) -> "MapSums":
        """Add a batch already reduced by :func:`~layerscope.stats._reduce.reduce_maps`; ``size`` is its maps'
        (H, W)."""
        self._fold(self._batch(r, size, scored), placed=True)
        return self

    def _batch(self, r: MapReduction, size: tuple[int, ...],  # type: ignore[override]
               scored: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        state = self._empty(r.mean.device)
        state["active"] += (r.positives - r.posinf).sum(0)  # values above the threshold that are finite
        if self.bounds is not None:
            state["at_bound"] += self._at_bound(r)
        if r.size > 1 and len(size) == 2:
            self._spatial(state, r, size, scored)
        return state

    def _at_bound(self, r: MapReduction) -> torch.Tensor:
        """Values on a clamp bound (counted by :func:`~layerscope.stats._reduce.reduce_maps` when asked)."""
        hits = r.hits
        if hits is None:
            hits = reduce_maps(r.flat, self.active, bounds=self.thresholds()).hits
        return hits.sum(0)

    def _spatial(self, state: dict[str, torch.Tensor], r: MapReduction, size: tuple[int, ...],
                 scored: Optional[torch.Tensor]) -> None:
        ok = r.count == r.size  # (N, C): maps with finite values only
        state["svar_sum"] += torch.where(ok, r.m2 / r.size, 0.0).sum(0)
        state["svar_n"] += ok.sum(0)
        height, width = size
        index = r.flat.argmax(-1) if r.index is None else r.index
        peaks = peak_fractions(index, height, width)  # finite maps only are kept: NaN never decides
        state["peak_sum"] += torch.where(ok[..., None], peaks, 0.0).sum(0)
        state["peak_sq"] += torch.where(ok[..., None], peaks.square(), 0.0).sum(0)
        state["peak_n"] += ok.sum(0)
        if min(height, width) >= self.min_noise_size:
            n, c = r.mean.shape
            inputs = n if self.noise_values is None else min(n, max(1, self.noise_values // (c * r.size)))
            score = torch.full_like(r.mean, math.nan)  # (N, C): the first ``inputs`` inputs of the batch scored
            score[:inputs] = _noise(r, size, ok, inputs)
            keep = torch.isfinite(score)
            if scored is not None:
                keep &= scored.to(keep.device)[:, None]
            state["noise_sum"] += torch.where(keep, score, 0.0).sum(0)
            state["noise_n"] += keep.sum(0)

    def _combine(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: a[name] + b[name] for name in a}

    def result(self) -> dict[str, np.ndarray]:
        """The sums by name, numpy on the CPU."""
        return self._numpy()


_CHUNK = 1 << 18  # values per block of the low-band products (the temporaries stay in cache)


def _noise(r: MapReduction, size: tuple[int, ...], ok: torch.Tensor, inputs: int) -> torch.Tensor:
    """:func:`~layerscope.stats.maps.noise_score` of the finite maps of the first ``inputs`` inputs
    ``(inputs, C)``, NaN for the others.

    The high-frequency energy is the map's sum of squares less its low-band energy
    (:func:`~layerscope.stats.maps.low_band_energy`): two small matrix products per map instead of an
    FFT. Where the mean dominates the map (the subtraction would lose digits) the map is centred first.
    """
    c = r.mean.shape[1]
    height, width = size
    share = white_noise_share(height, width)
    maps = r.flat[:inputs].reshape(inputs * c, height, width)
    m2 = r.m2[:inputs].reshape(-1)
    square = m2 + r.count[:inputs].reshape(-1) * r.mean[:inputs].reshape(-1).square()
    scale = torch.maximum(r.min[:inputs].abs(), r.max[:inputs].abs()).reshape(-1)
    flat = m2 <= (CONSTANT_REL * scale) ** 2 * r.size
    scored = ~flat & ok[:inputs].reshape(-1)  # constant and non-finite maps have no score: no products for them
    shaky = scored & (m2 < _SHAKY * square)
    score = torch.full_like(m2, math.nan)
    plain = (scored & ~shaky).nonzero()[:, 0]
    if len(plain):
        some = maps if len(plain) == len(maps) else maps[plain]
        low = torch.cat([low_band_energy(block) for block in some.split(max(1, _CHUNK // r.size))])
        score[plain] = (square[plain] - low) / m2[plain] / share
    shaky = shaky.nonzero()[:, 0]
    if len(shaky):  # the mean dominates: centre these maps first (float32 keeps their variations)
        centred = maps[shaky] - r.mean[:inputs].reshape(-1)[shaky, None, None].to(maps.dtype)
        energy = torch.linalg.vector_norm(centred, dim=(-2, -1)).to(torch.float64).square()
        score[shaky] = (energy - low_band_energy(centred)) / m2[shaky] / share
    return score.reshape(inputs, c)
