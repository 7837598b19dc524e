"""What the diagnosis streams about each channel of one layer: ``update(batch)``, ``merge(other)``, ``result()``.

>>> import torch
>>> stats = ChannelStats(2)
>>> _ = stats.update(torch.tensor([[[[1.0, 3.0]], [[-1.0, -1.0]]]], dtype=torch.float64))
>>> summary = stats.result()
>>> summary.mean.tolist(), summary.inactive.tolist(), summary.spatial_std.tolist()
([2.0, -1.0], [0.0, 1.0], [1.0, 0.0])

:class:`ChannelStats` is built from the accumulators of :mod:`layerscope.stats`
(:class:`~layerscope.stats.Moments`, :class:`~layerscope.stats.Extrema`,
:class:`~layerscope.stats.Covariance`) and the sums of the map measurements of
:mod:`layerscope.stats.maps`, so any split of the data into batches, in any order, gives the
result of one full batch (up to float64 rounding), and its state can be saved and rebuilt.

A batch is reduced map by map once (:func:`~layerscope.stats._reduce.reduce_maps`, the scan's
reduction: float32 maps in float32, about 1e-7 relative, float64 maps exactly); the noise score comes
from two small matrix products per map (:func:`~layerscope.stats.maps.low_band_energy`), not an FFT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch

from ..core.tensors import as_tensor
from ..errors import InputError
from ._base import Accumulator, check_channels
from ._mapsums import MapSums
from .covariance import Covariance
from .maps import effective_rank
from ._reduce import BLOCK, MapReduction, Scratch, reduce_maps, reduce_together
from .moments import Extrema, Moments, pooled

__all__ = ["ChannelStats", "ChannelSummary", "update_together"]

Bounds = Optional[tuple[Optional[float], Optional[float]]]
_COUNTERS = ("inputs", "spatial")
_CONFIG = ("config.bounds", "config.active", "config.saturation_tol", "config.min_noise_size", "config.noise_values")


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


class ChannelStats:
    """Accumulates what the diagnosis needs about each channel of one layer, batch by batch.

    ``bounds`` are the (lower, upper) clamp bounds of the layer's activation, a None side is not
    counted (see :func:`~layerscope.diagnosis.metrics.activation_bounds`); ``active`` the activity
    threshold; ``covariance`` whether to keep the C x C covariance for the effective rank.
    After updates, ``inputs`` counts the inputs and ``spatial`` says whether the maps have
    positions (H*W > 1 somewhere).
    """

    def __init__(
        self,
        channels: int,
        *,
        bounds: Bounds = None,
        active: float = 0.0,
        saturation_tol: float = 1e-3,
        min_noise_size: int = 4,
        covariance: bool = True,
        noise_values: Optional[int] = None,
    ) -> None:
        self.channels = check_channels(int(channels), "ChannelStats")
        self.bounds = None if bounds is None or bounds == (None, None) else tuple(bounds)
        self.active = float(active)
        self.saturation_tol = float(saturation_tol)
        self.min_noise_size = int(min_noise_size)
        self.noise_values = None if noise_values is None else max(1, int(noise_values))
        self.moments = Moments(self.channels)
        self.extrema = Extrema(self.channels)
        self.map_sums = MapSums(self.channels, self.bounds, self.active, self.saturation_tol, self.min_noise_size,
                                self.noise_values)
        self.covariance: Optional[Covariance] = Covariance(self.channels) if covariance else None
        self.inputs = 0
        self.spatial = False
        self._scratch = Scratch()

    def __repr__(self) -> str:
        return f"ChannelStats({self.channels}, inputs={self.inputs})"

    def _parts(self) -> dict[str, Accumulator]:
        parts: dict[str, Accumulator] = {"moments": self.moments, "extrema": self.extrema, "map_sums": self.map_sums}
        if self.covariance is not None:
            parts["covariance"] = self.covariance
        return parts

    def _config(self) -> dict[str, Any]:
        return {
            "bounds": self.bounds, "active": self.active, "saturation_tol": self.saturation_tol,
            "min_noise_size": self.min_noise_size, "covariance": self.covariance is not None,
            "noise_values": self.noise_values,
        }

    def update(self, maps: Any, scored: Optional[torch.Tensor] = None, *,
               reduced: Optional[MapReduction] = None) -> "ChannelStats":
        """Add one batch of maps ``(N, C, H, W)`` (use ``(N, C, 1, 1)`` for vectors); returns self.

        ``scored`` (bool, one per input) leaves the maps of some inputs out of the noise score, e.g.
        those of constant images, whose maps only show the convolutions' zero padding. ``reduced``: the
        maps' :func:`~layerscope.stats._reduce.reduce_maps`, when made already (see :func:`update_together`).
        """
        x = as_tensor(maps, "maps")
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise InputError(
                f"ChannelStats({self.channels}) got a batch of shape {tuple(x.shape)}; "
                f"it needs (N, {self.channels}, H, W)."
            )
        if not x.numel():
            return self
        r = reduced if reduced is not None else reduce_maps(x, self.active, self._scratch, **self._asks(x))
        count, mean, m2 = pooled(r.count, r.mean, r.m2)
        self.moments._fold({"count": count, "mean": mean, "m2": m2, "nan": r.nan.sum(0),
                            "posinf": r.posinf.sum(0), "neginf": r.neginf.sum(0)}, placed=True)
        self.extrema._fold({"min": r.min.amin(0), "max": r.max.amax(0)}, placed=True)
        self.map_sums.add(r, tuple(x.shape[2:]), scored)
        if self.covariance is not None:
            self.covariance.update(x)
        self.inputs += int(x.shape[0])
        self.spatial = self.spatial or x.shape[-2] * x.shape[-1] > 1
        return self

    def _asks(self, x: torch.Tensor) -> dict[str, Any]:
        """What :func:`~layerscope.stats._reduce.reduce_maps` finds for this layer's maps ``x`` besides its
        default numbers, in the same pass over them: the argmax of spatial maps, the values on clamp bounds."""
        return {"argmax": x.shape[-2] * x.shape[-1] > 1, "bounds": self.map_sums.thresholds()}

    def merge(self, other: "ChannelStats") -> "ChannelStats":
        """Fold in the statistics of the same layer over other inputs; returns self."""
        if not isinstance(other, ChannelStats) or other.channels != self.channels:
            raise InputError(f"Cannot merge {other!r} into {self!r}: merge only the ChannelStats of the same layer.")
        if other._config() != self._config():
            raise InputError(
                f"Cannot merge {other!r} into {self!r}: they were made with different settings "
                f"({other._config()} vs {self._config()}); use the same thresholds for every part."
            )
        theirs = other._parts()
        for name, part in self._parts().items():
            part.merge(theirs[name])
        self.inputs += other.inputs
        self.spatial = self.spatial or other.spatial
        return self

    def to(self, device: Any) -> "ChannelStats":
        """Move every part's state to ``device``; returns self."""
        for part in self._parts().values():
            part.to(device)
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The state as one flat dict of tensors (parts prefixed ``moments.``, ``extrema.`` ...; settings ``config.``)."""
        state = {f"{name}.{key}": value for name, part in self._parts().items() for key, value in part.state_dict().items()}
        low, high = self.bounds if self.bounds is not None else (None, None)
        state.update({
            "inputs": torch.tensor(self.inputs, dtype=torch.int64),
            "spatial": torch.tensor(self.spatial),
            "config.bounds": torch.tensor([math.nan if v is None else v for v in (low, high)], dtype=torch.float64),
            "config.active": torch.tensor(self.active, dtype=torch.float64),
            "config.saturation_tol": torch.tensor(self.saturation_tol, dtype=torch.float64),
            "config.min_noise_size": torch.tensor(self.min_noise_size, dtype=torch.int64),
            "config.noise_values": torch.tensor(-1 if self.noise_values is None else self.noise_values, dtype=torch.int64),
        })
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "ChannelStats":
        """Rebuild from :meth:`state_dict`, settings included."""
        missing = [key for key in (*_COUNTERS, *_CONFIG[:-1], "moments.mean") if key not in state]  # noise_values: new
        if missing:
            raise InputError(f"ChannelStats.from_state: {', '.join(map(repr, missing))} missing; pass a state_dict().")
        bounds = tuple(None if math.isnan(v) else v for v in as_tensor(state["config.bounds"]).tolist())
        stats = cls(
            int(as_tensor(state["moments.mean"]).shape[0]), bounds=bounds,
            active=float(state["config.active"]), saturation_tol=float(state["config.saturation_tol"]),
            min_noise_size=int(state["config.min_noise_size"]),
            noise_values=None if int(state.get("config.noise_values", -1)) < 0 else int(state["config.noise_values"]),
            covariance=any(key.startswith("covariance.") for key in state),
        )
        parts = stats._parts()
        unknown = [k for k in state if k not in (*_COUNTERS, *_CONFIG) and k.split(".", 1)[0] not in parts]
        if unknown:
            raise InputError(f"ChannelStats.from_state: unknown entries {unknown}; pass a ChannelStats state_dict().")
        for name, part in parts.items():
            part._load({key[len(name) + 1 :]: value for key, value in state.items() if key.startswith(name + ".")})
        stats.inputs, stats.spatial = int(state["inputs"]), bool(state["spatial"])
        return stats

    def result(self) -> ChannelSummary:
        """The per-channel summary (numpy, CPU). Raises if no batch was added."""
        if self.inputs == 0:
            raise InputError("ChannelStats.result() before any update(): add at least one batch.")
        m, e, s = self.moments.result(), self.extrema.result(), self.map_sums.result()
        count = m.count.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            peak_mean = s["peak_sum"] / s["peak_n"][:, None]
            peak_var = s["peak_sq"] / s["peak_n"][:, None] - peak_mean**2
            return ChannelSummary(
                channels=self.channels, inputs=self.inputs, values=m.values.astype(np.float64),
                nan=m.nan.astype(np.float64), inf=(m.posinf + m.neginf).astype(np.float64),
                mean=m.mean, std=m.std, rms=m.rms, min=e.min, max=e.max,
                inactive=1.0 - s["active"] / count, at_bound=s["at_bound"] / count,
                spatial_std=np.sqrt(s["svar_sum"] / s["svar_n"]), noise=s["noise_sum"] / s["noise_n"],
                peak_row=peak_mean[:, 0], peak_col=peak_mean[:, 1],
                peak_spread=np.sqrt(np.clip(peak_var, 0, None).sum(1)), effective_rank=self._effective_rank(),
            )

    def _effective_rank(self) -> float:
        if self.covariance is None:
            return math.nan
        cov = self.covariance.result()
        return effective_rank(torch.from_numpy(cov.matrix)) if cov.count >= 2 else math.nan


def update_together(updates: Sequence[tuple[ChannelStats, torch.Tensor, Optional[torch.Tensor]]]) -> None:
    """``stats.update(maps, scored)`` for every ``(stats, maps, scored)`` of one batch (the layers of one
    network), the small float32 maps of the same shape and settings reduced in one call
    (:func:`~layerscope.stats._reduce.reduce_together`): at batch 1 most layers of a network are a few
    thousand values, and the work per call, not per value, is what a reduction costs there. The numbers are
    those of one update per layer.

    >>> a, b = ChannelStats(2), ChannelStats(3)
    >>> x, y = torch.rand(1, 2, 4, 4), torch.rand(1, 3, 4, 4)
    >>> update_together([(a, x, None), (b, y, None)])
    >>> b.result().mean.tolist() == ChannelStats(3).update(y).result().mean.tolist()
    True
    """
    groups: dict[tuple, list[int]] = {}
    for i, (stats, maps, _) in enumerate(updates):
        if (isinstance(maps, torch.Tensor) and maps.dtype == torch.float32 and maps.dim() == 4
                and maps.shape[1] == stats.channels and 0 < maps.numel() < BLOCK):
            asks = stats._asks(maps)
            key = (maps.shape[0], *maps.shape[2:], maps.device, stats.active, asks["argmax"], asks["bounds"])
            groups.setdefault(key, []).append(i)
    reduced: dict[int, MapReduction] = {}
    for members in groups.values():
        if len(members) > 1:
            first = updates[members[0]][0]
            found = reduce_together([updates[i][1] for i in members], first.active, first._scratch,
                                    **first._asks(updates[members[0]][1]))
            reduced.update(zip(members, found))
    for i, (stats, maps, scored) in enumerate(updates):
        stats.update(maps, scored, reduced=reduced.get(i))
