"""Streaming per-channel statistics of one layer: ``update(batch)``, ``merge(other)``, ``result()``.

>>> import torch
>>> stats = ChannelStats(2)
>>> _ = stats.update(torch.tensor([[[[1.0, 3.0]], [[-1.0, -1.0]]]]))
>>> summary = stats.result()
>>> summary.mean.tolist(), summary.inactive.tolist(), summary.spatial_std.tolist()
([2.0, -1.0], [0.0, 1.0], [1.0, 0.0])

Accumulators are float64 and live on the device of the first batch; only the
small per-channel results move to the CPU. Means and variances are merged with
Chan et al.'s pairwise formula, so any split of the data into batches, in any
order, gives the same result (up to rounding) as one full batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .metrics import effective_rank, noise_score, peak_positions, spatial_variance

__all__ = ["ChannelStats", "ChannelSummary"]

_SUMS = ("nan", "posinf", "neginf", "active", "at_bound", "svar_sum", "svar_n", "noise_sum", "noise_n", "peak_n")
_CHUNK = 1 << 22  # values per chunk of the covariance product


@dataclass
class ChannelSummary:
    """Per-channel results (numpy arrays of length C) plus the layer's effective rank.

    ``inactive`` is the share of finite values at or below the activity threshold;
    ``spatial_std`` the root-mean-square over inputs of each map's std over its positions
    (NaN without spatial extent); ``noise`` the mean noise score over the maps that had one;
    ``at_bound`` the share of values on a clamp bound; ``peak_row``/``peak_col`` the mean
    position of the map maximum (0 first, 1 last row/column) and ``peak_spread`` its std.
    """

    channels: int
    inputs: int
    values: np.ndarray
    nan: np.ndarray
    inf: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    rms: np.ndarray
    min: np.ndarray
    max: np.ndarray
    inactive: np.ndarray
    at_bound: np.ndarray
    spatial_std: np.ndarray
    noise: np.ndarray
    peak_row: np.ndarray
    peak_col: np.ndarray
    peak_spread: np.ndarray
    effective_rank: float


def _pair_merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Chan et al.: combine (count, mean, M2) of two parts; M2 may be a vector or a matrix."""
    n = n_a + n_b
    safe = n.clamp_min(1)
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / safe)
    weight = n_a * n_b / safe
    if m2_a.dim() == 2:
        m2 = m2_a + m2_b + torch.outer(delta, delta) * weight
    else:
        m2 = m2_a + m2_b + delta.square() * weight
    return n, mean, m2


class ChannelStats:
    """Accumulates what the diagnosis needs about each channel of one layer, batch by batch.

    ``spatial`` says whether the maps have positions (H*W > 1 somewhere); ``bounds`` are
    the (lower, upper) clamp bounds of the layer's activation, a None side is not counted
    (see :func:`~layerscope.diagnose.metrics.activation_bounds`); ``active`` the activity
    threshold; ``covariance`` whether to keep the C x C covariance for the effective rank.
    """

    def __init__(
        self,
        channels: int,
        *,
        bounds: Optional[tuple[Optional[float], Optional[float]]] = None,
        active: float = 0.0,
        saturation_tol: float = 1e-3,
        min_noise_size: int = 4,
        covariance: bool = True,
    ) -> None:
        self.channels = int(channels)
        self.bounds = bounds
        self.active = float(active)
        self.saturation_tol = float(saturation_tol)
        self.min_noise_size = int(min_noise_size)
        self.covariance = covariance
        self.inputs = 0
        self.spatial = False
        self._state: Optional[dict[str, torch.Tensor]] = None

    # -- state -------------------------------------------------------------------------------------
    def _empty(self, device: torch.device) -> dict[str, torch.Tensor]:
        c = self.channels
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=device)  # noqa: E731
        state = {name: zeros(c) for name in _SUMS}
        state.update(
            count=zeros(c), mean=zeros(c), m2=zeros(c), values=zeros(c),
            min=torch.full((c,), math.inf, dtype=torch.float64, device=device),
            max=torch.full((c,), -math.inf, dtype=torch.float64, device=device),
            peak_sum=zeros(c, 2), peak_sq=zeros(c, 2),
            cov_n=zeros(()), cov_mean=zeros(c), cov_m2=zeros(c, c) if self.covariance else zeros(0, 0),
        )
        return state

    def _batch_state(self, maps: torch.Tensor, scored: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        """The state of one batch alone; ``maps`` is (N, C, H, W), ``scored`` which inputs get noise scores."""
        x = maps.detach().to(torch.float64)
        state = self._empty(x.device)
        per_channel = x.transpose(0, 1).reshape(self.channels, -1)
        finite = torch.isfinite(per_channel)
        state["values"] += per_channel.shape[1]
        state["nan"] += torch.isnan(per_channel).sum(1)
        state["posinf"] += (per_channel == math.inf).sum(1)
        state["neginf"] += (per_channel == -math.inf).sum(1)
        clean = torch.where(finite, per_channel, torch.zeros((), dtype=x.dtype, device=x.device))
        count = finite.sum(1).to(torch.float64)
        mean = clean.sum(1) / count.clamp_min(1)
        state["count"], state["mean"] = count, mean
        state["m2"] = torch.where(finite, per_channel - mean[:, None], torch.zeros_like(mean[:, None])).square().sum(1)
        state["min"] = torch.where(finite, per_channel, math.inf).amin(1)
        state["max"] = torch.where(finite, per_channel, -math.inf).amax(1)
        state["active"] += (clean > self.active).logical_and(finite).sum(1)
        state["at_bound"] += self._at_bound(per_channel).sum(1)
        self._spatial_update(state, x, scored)
        if self.covariance:
            self._covariance_update(state, x)
        return state

    def _at_bound(self, values: torch.Tensor) -> torch.Tensor:
        if self.bounds is None:
            return torch.zeros_like(values, dtype=torch.bool)
        low, high = self.bounds
        span = (high - low) if low is not None and high is not None else 1.0
        tol = self.saturation_tol * span
        hits = torch.zeros_like(values, dtype=torch.bool)
        if low is not None:
            hits |= values <= low + tol
        if high is not None:
            hits |= values >= high - tol
        return hits

    def _spatial_update(self, state: dict[str, torch.Tensor], x: torch.Tensor, scored: Optional[torch.Tensor]) -> None:
        height, width = x.shape[-2:]
        if height * width <= 1:
            return
        self.spatial = True
        map_ok = torch.isfinite(x).flatten(2).all(-1)  # (N, C)
        svar = spatial_variance(x)
        state["svar_sum"] += torch.where(map_ok, svar, 0.0).sum(0)
        state["svar_n"] += map_ok.sum(0)
        peaks = peak_positions(x)  # (N, C, 2)
        ok = map_ok[..., None]
        state["peak_sum"] += torch.where(ok, peaks, 0.0).sum(0)
        state["peak_sq"] += torch.where(ok, peaks.square(), 0.0).sum(0)
        state["peak_n"] += map_ok.sum(0)
        if min(height, width) >= self.min_noise_size:
            score = noise_score(x)
            ok = torch.isfinite(score)
            if scored is not None:
                ok &= scored.to(ok.device)[:, None]
            state["noise_sum"] += torch.where(ok, score, 0.0).sum(0)
            state["noise_n"] += ok.sum(0)

    def _covariance_update(self, state: dict[str, torch.Tensor], x: torch.Tensor) -> None:
        rows = x.movedim(1, -1).reshape(-1, self.channels)
        rows = torch.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0)
        n = rows.shape[0]
        mean = rows.sum(0) / max(n, 1)
        m2 = state["cov_m2"]
        step = max(1, _CHUNK // max(self.channels, 1))
        for chunk in rows.split(step):
            centered = chunk - mean
            m2 += centered.T @ centered
        state["cov_n"] = torch.tensor(float(n), dtype=torch.float64, device=x.device)
        state["cov_mean"] = mean

    # -- public API ------------------------------------------------------------------------------
    def update(self, maps: torch.Tensor, scored: Optional[torch.Tensor] = None) -> "ChannelStats":
        """Add one batch of maps ``(N, C, H, W)`` (use ``(N, C, 1, 1)`` for vectors); returns self.

        ``scored`` (bool, one per input) leaves the maps of some inputs out of the noise score, e.g.
        those of constant images, whose maps only show the convolutions' zero padding.
        """
        if maps.dim() != 4 or maps.shape[1] != self.channels:
            from ..errors import InputError

            raise InputError(
                f"ChannelStats({self.channels}) got a batch of shape {tuple(maps.shape)}; "
                f"it needs (N, {self.channels}, H, W)."
            )
        batch = ChannelStats.__new__(ChannelStats)
        batch.__dict__.update(self.__dict__)
        batch.inputs, batch.spatial = maps.shape[0], False
        batch._state = batch._batch_state(maps, scored)
        return self.merge(batch)

    def merge(self, other: "ChannelStats") -> "ChannelStats":
        """Fold another accumulator of the same layer into this one; returns self."""
        if other._state is None:
            return self
        if self._state is None:
            self._state = {k: v.clone() for k, v in other._state.items()}
            self.inputs, self.spatial = other.inputs, other.spatial
            return self
        a, b = self._state, other._state
        b = {k: v.to(a[k].device) for k, v in b.items()}
        for name in (*_SUMS, "values", "peak_sum", "peak_sq"):
            a[name] = a[name] + b[name]
        a["min"], a["max"] = torch.minimum(a["min"], b["min"]), torch.maximum(a["max"], b["max"])
        a["count"], a["mean"], a["m2"] = _pair_merge(a["count"], a["mean"], a["m2"], b["count"], b["mean"], b["m2"])
        if self.covariance:
            a["cov_n"], a["cov_mean"], a["cov_m2"] = _pair_merge(
                a["cov_n"], a["cov_mean"], a["cov_m2"], b["cov_n"], b["cov_mean"], b["cov_m2"]
            )
        self.inputs += other.inputs
        self.spatial = self.spatial or other.spatial
        return self

    def result(self) -> ChannelSummary:
        """The per-channel summary (numpy, CPU). Raises if no batch was added."""
        if self._state is None:
            from ..errors import InputError

            raise InputError("ChannelStats.result() before any update(): add at least one batch.")
        s = {k: v.cpu() for k, v in self._state.items() if k != "cov_m2"}
        np_ = lambda t: t.numpy().astype(np.float64)  # noqa: E731
        count = np_(s["count"])
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np_(s["m2"]) / count
            mean = np.where(count > 0, np_(s["mean"]), np.nan)
            peak_mean = np_(s["peak_sum"]) / np_(s["peak_n"])[:, None]
            peak_var = np_(s["peak_sq"]) / np_(s["peak_n"])[:, None] - peak_mean**2
            summary = ChannelSummary(
                channels=self.channels,
                inputs=self.inputs,
                values=np_(s["values"]),
                nan=np_(s["nan"]),
                inf=np_(s["posinf"]) + np_(s["neginf"]),
                mean=mean,
                std=np.sqrt(var),
                rms=np.sqrt(var + mean**2),
                min=np.where(count > 0, np_(s["min"]), np.nan),
                max=np.where(count > 0, np_(s["max"]), np.nan),
                inactive=1.0 - np_(s["active"]) / count,
                at_bound=np_(s["at_bound"]) / count,
                spatial_std=np.sqrt(np_(s["svar_sum"]) / np_(s["svar_n"])),
                noise=np_(s["noise_sum"]) / np_(s["noise_n"]),
                peak_row=peak_mean[:, 0],
                peak_col=peak_mean[:, 1],
                peak_spread=np.sqrt(np.clip(peak_var, 0, None).sum(1)),
                effective_rank=self._effective_rank(),
            )
        return summary

    def _effective_rank(self) -> float:
        if not self.covariance or float(self._state["cov_n"]) < 2:
            return math.nan
        return effective_rank(self._state["cov_m2"] / self._state["cov_n"])
