"""Channels to RGB through 3 principal components, with a basis that can be shared so colours agree across inputs.

>>> import torch
>>> maps = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(0))
>>> basis = fit_pca_basis([maps[0], maps[1]])
>>> basis.components.shape, pca_rgb(maps[0], basis).shape
(torch.Size([3, 16]), (8, 8, 3))
>>> bool((pca_rgb(maps, basis)[0] == pca_rgb(maps[0], basis)).all())  # colours don't depend on the batch
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from ..errors import InputError
from ..stats import quantile
from ._viewkit import as_tensor
from .colormap import MARKER_RGB

__all__ = ["PCABasis", "fit_pca_basis", "pca_rgb"]


@dataclass(frozen=True)
class PCABasis:
    """A fitted projection from C channels to up to 3 colour components.

    ``mean`` (C,), ``components`` (k, C) with k = min(3, C) unit rows, each signed so that its
    largest-magnitude entry is positive; ``low`` / ``high`` (k,) the percentiles of each
    component that map to 0 and 255; ``explained`` (k,) the fraction of variance of each.
    """

    mean: torch.Tensor
    components: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    explained: torch.Tensor

    @property
    def channels(self) -> int:
        return int(self.mean.shape[0])

    def project(self, maps: Any) -> torch.Tensor:
        """``(C, H, W)`` or ``(N, C, H, W)`` -> component values ``(..., k, H, W)`` (unscaled)."""
        x = _check_maps(maps, self.channels)
        basis = self.to(x.device)
        centered = x.to(torch.float32) - basis.mean.view(-1, 1, 1)
        return torch.einsum("kc,...chw->...khw", basis.components, centered)

    def to(self, device: Any) -> "PCABasis":
        moved = {name: getattr(self, name).to(device) for name in ("mean", "components", "low", "high", "explained")}
        return PCABasis(**moved)


def _check_maps(maps: Any, channels: Optional[int] = None) -> torch.Tensor:
    x = as_tensor(maps)
    if x.dim() not in (3, 4) or x.shape[-1] * x.shape[-2] == 0:
        raise InputError(
            f"PCA expects maps of shape (C, H, W) or (N, C, H, W) with pixels, got {tuple(x.shape)}; "
            f"lay out other activations first with layerscope.render.to_maps(tensor).maps."
        )
    if channels is not None and x.shape[-3] != channels:
        raise InputError(
            f"The PCA basis was fitted on {channels} channels but these maps have {x.shape[-3]} "
            f"(shape {tuple(x.shape)}); fit a basis on maps of this layer with fit_pca_basis."
        )
    return x


def _pixels(maps: torch.Tensor) -> torch.Tensor:
    """(C, H, W) / (N, C, H, W) -> (pixels, C) float32."""
    x = maps if maps.dim() == 4 else maps.unsqueeze(0)
    return x.to(torch.float32).permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def _principal_axes(centered: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Right singular vectors (rows, by decreasing variance) and the variances, of (pixels, C) data.

    With more pixels than channels the C x C scatter matrix is diagonalised in float64
    (fast and exact enough); otherwise the data itself goes through ``torch.linalg.svd``.
    """
    if centered.shape[0] >= centered.shape[1]:
        scatter = (centered.T @ centered).double()
        variances, vectors = torch.linalg.eigh(scatter)
        order = torch.arange(variances.shape[0] - 1, -1, -1, device=variances.device)
        return vectors.T[order].float(), variances[order].clamp_min(0).float()
    _, singular, vh = torch.linalg.svd(centered, full_matrices=False)
    return vh, singular.square()


def fit_pca_basis(
    maps: Any,
    *,
    max_samples: int = 8192,
    clip: tuple[float, float] = (1.0, 99.0),
    seed: int = 0,
) -> PCABasis:
    """Fit 3 principal components of the channel vectors of every pixel of ``maps``.

    ``maps`` is one ``(C, H, W)`` / ``(N, C, H, W)`` tensor or a list of them (same C; e.g. the
    same layer for several inputs). Robust to outliers: it fits on at most ``max_samples``
    pixels drawn with ``seed``, clamps each channel of that sample to its ``clip`` percentiles
    before finding the axes, and scales each component by its ``clip`` percentiles. Runs with
    ``torch.linalg`` (eigh of the channel scatter, or svd) on the maps' device; the signs are
    fixed (largest entry positive).
    """
    items = list(maps) if isinstance(maps, (list, tuple)) else [maps]
    if not items:
        raise InputError("fit_pca_basis needs at least one (C, H, W) map tensor.")
    tensors = [_check_maps(items[0])]
    tensors += [_check_maps(m, tensors[0].shape[-3]) for m in items[1:]]
    low_q, high_q = clip
    if not 0.0 <= low_q < high_q <= 100.0:
        raise InputError(f"clip must be percentiles (low, high) with 0 <= low < high <= 100, got {clip!r}.")
    device = tensors[0].device
    pixels = torch.cat([_pixels(t.to(device)) for t in tensors])
    if pixels.shape[0] > max_samples:
        order = torch.randperm(pixels.shape[0], generator=torch.Generator().manual_seed(seed))
        pixels = pixels[order[:max_samples].to(device)]
    pixels = torch.where(torch.isfinite(pixels), pixels, torch.zeros_like(pixels))
    robust = pixels.clamp(*quantile.percentiles(pixels, clip, 0, method="nearest"))
    mean = robust.mean(dim=0)
    axes, variance = _principal_axes(robust - mean)
    k = min(3, axes.shape[0])
    components = axes[:k]
    signs = torch.sign(components.gather(1, components.abs().argmax(dim=1, keepdim=True)))
    components = components * torch.where(signs == 0, torch.ones_like(signs), signs)
    explained = variance[:k] / variance.sum().clamp_min(torch.finfo(torch.float32).tiny)
    projected = (pixels - mean) @ components.T
    low, high = quantile.percentiles(projected, clip, 0, method="nearest")
    return PCABasis(mean, components.contiguous(), low, high, explained)


def pca_rgb(maps: Any, basis: Optional[PCABasis] = None, **fit_options: Any) -> np.ndarray:
    """``(C, H, W)`` -> (H, W, 3) uint8, ``(N, C, H, W)`` -> (N, H, W, 3): component k is colour k.

    Without ``basis`` one is fitted on ``maps`` (``fit_options`` go to :func:`fit_pca_basis`);
    pass a shared basis to give several inputs the same colours. Values beyond a component's
    percentiles are clipped; a component with no spread, or missing (C < 3), is black. A pixel
    with NaN / Inf in any channel is drawn in :data:`~layerscope.render.colormap.MARKER_RGB`.
    """
    x = _check_maps(maps, None if basis is None else basis.channels)
    if basis is None:
        basis = fit_pca_basis(x, **fit_options)
    values = basis.project(x)
    local = basis.to(values.device)
    span = (local.high - local.low).view(-1, 1, 1)
    shifted = (values - local.low.view(-1, 1, 1)) / span.clamp_min(1e-30)
    scaled = torch.where(span > 0, shifted, torch.zeros_like(values))
    scaled = torch.where(torch.isfinite(scaled), scaled.clamp(0.0, 1.0), torch.zeros_like(scaled))
    rgb = torch.zeros((*values.shape[:-3], 3, *values.shape[-2:]), dtype=torch.float32, device=values.device)
    rgb[..., : values.shape[-3], :, :] = scaled
    image = torch.round(rgb * 255.0).to(torch.uint8).movedim(-3, -1).cpu().numpy()
    broken = (~torch.isfinite(x.to(torch.float32))).any(dim=-3).cpu().numpy()  # as grids do: magenta
    image[broken] = MARKER_RGB
    return image
