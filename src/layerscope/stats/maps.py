"""Per-map measurements, as pure functions of one batch of maps ``(N, C, H, W)``, and the effective rank.

>>> import torch
>>> smooth = torch.cos(torch.arange(16) * 6.2832 / 16).expand(1, 1, 16, 16)  # one slow wave
>>> noise = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
>>> round(float(noise_score(smooth)), 2), round(float(noise_score(noise)), 1)
(0.0, 1.0)

The noise score is the share of a map's spatial energy (after removing its mean)
at high spatial frequencies (above a quarter cycle per pixel in either axis),
divided by the share white noise of the same size puts there: 0 for a smooth
map, about 1 for a map that is pure pixel noise. The FFT treats the map as periodic, so
a strong ramp across the map leaks a little energy upwards (a full-range linear ramp
scores about 0.08, far below the 0.8 that flags noise). ``docs/diagnose.md`` explains
why this and not spatial autocorrelation, and how it separates trained from
random-init layers.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

__all__ = [
    "noise_score",
    "low_band_energy",
    "white_noise_share",
    "spatial_variance",
    "peak_positions",
    "peak_fractions",
    "effective_rank",
    "HIGH_FREQUENCY",
    "CONSTANT_REL",
]

HIGH_FREQUENCY = 0.25  # cycles per pixel; Nyquist is 0.5
# A map whose spatial std is at most this share of its largest magnitude is constant: float32 round-off
# (about 1e-7 relative, a few 1e-6 after a resize and a convolution) must not be scored as pixel noise.
CONSTANT_REL = 1e-4


@lru_cache(maxsize=64)
def _high_mask(height: int, width: int) -> torch.Tensor:
    fy = torch.fft.fftfreq(height, dtype=torch.float64).abs()[:, None]
    fx = torch.fft.fftfreq(width, dtype=torch.float64).abs()[None, :]
    return torch.maximum(fy, fx) > HIGH_FREQUENCY


def white_noise_share(height: int, width: int) -> float:
    """Expected share of a centered white-noise map's energy above :data:`HIGH_FREQUENCY`.

    >>> white_noise_share(8, 8)  # 39 of the 63 non-constant frequencies
    0.6190476190476191
    """
    if height * width <= 1:
        return math.nan
    return float(_high_mask(height, width).sum()) / (height * width - 1)


def spatial_variance(maps: torch.Tensor) -> torch.Tensor:
    """Population variance of each map over its positions: ``(N, C, H, W) -> (N, C)`` float64.

    >>> spatial_variance(torch.tensor([[[[1.0, 3.0]]]])).tolist()
    [[1.0]]
    """
    return maps.to(torch.float64).flatten(2).var(dim=-1, unbiased=False)


def noise_score(maps: torch.Tensor) -> torch.Tensor:
    """High-frequency energy share of each map relative to white noise: ``(N, C, H, W) -> (N, C)``.

    NaN for maps with a non-finite value and for constant maps: those whose spatial std is at most
    :data:`CONSTANT_REL` of their largest magnitude (round-off on a flat map is not noise). Computed in
    float64 from the centred map's energy less its :func:`low_band_energy` (two small matrix products
    per map, a third of an FFT's time at 224 x 224; they agree to 1e-15):

    >>> m = torch.randn(2, 3, 12, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> centred = m - m.mean((-2, -1), keepdim=True)
    >>> power = torch.fft.fft2(centred).abs().square()
    >>> fft = (power * _high_mask(12, 10)).sum((-2, -1)) / power.sum((-2, -1)) / white_noise_share(12, 10)
    >>> torch.allclose(noise_score(m), fft, rtol=1e-12)
    True
    >>> flat = torch.full((1, 1, 8, 8), 0.37); flat[0, 0, 3, 3] += 1e-7
    >>> noise_score(flat).isnan().item()
    True
    """
    x = maps.to(torch.float64)
    height, width = x.shape[-2:]
    centered = x - x.mean(dim=(-2, -1), keepdim=True)
    total = centered.square().sum(dim=(-2, -1))
    high = total - low_band_energy(centered)
    score = high / total / white_noise_share(height, width)
    scale = x.abs().amax(dim=(-2, -1))
    flat = total <= (CONSTANT_REL * scale) ** 2 * (height * width)
    return score.masked_fill(flat | ~torch.isfinite(total), math.nan)


@lru_cache(maxsize=64)
def _low_basis(size: int) -> torch.Tensor:
    """An orthonormal real basis ``(size, r)`` of the signals of ``size`` samples made of the DFT frequencies
    at most :data:`HIGH_FREQUENCY` cycles per sample (the constant first), float64."""
    n = torch.arange(size, dtype=torch.float64)
    keep = [int(k) for k in range(size // 2 + 1) if k / size <= HIGH_FREQUENCY]
    columns = [torch.ones(size, dtype=torch.float64)]
    for k in keep[1:]:
        columns += [torch.cos(2 * math.pi * k * n / size), torch.sin(2 * math.pi * k * n / size)]
    basis, _ = torch.linalg.qr(torch.stack(columns, 1))
    return basis


def low_band_energy(maps: torch.Tensor) -> torch.Tensor:
    """The energy (sum of squares) of each map's part at low frequencies: ``(N, C, H, W) -> (N, C)``.

    Low is what :func:`noise_score` does not count as high: at most :data:`HIGH_FREQUENCY` cycles per
    pixel along both axes, the mean included. It is the squared norm of the map's projection
    ``U.T @ map @ V`` onto the low frequencies of each axis (two small matrix products per map, in the
    maps' dtype), so ``sum(map**2) - low_band_energy(map)`` is the high-frequency energy the FFT gives,
    without a transform of the whole map:

    >>> m = torch.randn(2, 3, 12, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> power = torch.fft.fft2(m).abs().square()
    >>> high = (power * _high_mask(12, 10)).sum((-2, -1)) / (12 * 10)  # Parseval
    >>> torch.allclose(m.square().sum((-2, -1)) - low_band_energy(m), high)
    True
    """
    height, width = maps.shape[-2:]
    dtype = maps.dtype if maps.dtype in (torch.float32, torch.float64) else torch.float32
    rows = _low_basis(height).to(maps.device, dtype)
    cols = _low_basis(width).to(maps.device, dtype)
    x = maps.to(dtype)
    return (rows.T @ (x @ cols)).square().sum((-2, -1)).to(torch.float64)


def peak_positions(maps: torch.Tensor) -> torch.Tensor:
    """Where each map peaks, as (row, column) fractions of the map: ``(N, C, H, W) -> (N, C, 2)``.

    0 is the first row/column, 1 the last (0.5 for a 1-pixel side).

    >>> m = torch.zeros(1, 1, 3, 5); m[0, 0, 2, 1] = 1
    >>> peak_positions(m).tolist()
    [[[1.0, 0.25]]]
    """
    height, width = maps.shape[-2:]
    return peak_fractions(maps.flatten(2).nan_to_num(nan=-math.inf).argmax(dim=-1), height, width)


def peak_fractions(index: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Flat argmax positions in ``height x width`` maps as (row, column) fractions: ``(...) -> (..., 2)`` float64.

    >>> peak_fractions(torch.tensor([11]), 3, 5).tolist()
    [[1.0, 0.25]]
    """
    rows = (index // width).to(torch.float64)
    cols = (index % width).to(torch.float64)
    rows = rows / (height - 1) if height > 1 else torch.full_like(rows, 0.5)
    cols = cols / (width - 1) if width > 1 else torch.full_like(cols, 0.5)
    return torch.stack([rows, cols], dim=-1)


def effective_rank(covariance: torch.Tensor) -> float:
    """The participation ratio of a covariance matrix: ``trace(S)**2 / trace(S @ S)`` = (sum of the
    eigenvalues)² / (sum of their squares), in O(C²) with no eigendecomposition.

    Between 1 (one direction carries everything) and the number of channels (all equal): how many
    directions the layer's channels really use. (Roy & Vetterli's entropy rank needs every eigenvalue,
    O(C³): 11 of 18 s of a one-photo diagnosis of EfficientNet-Lite0; this one is exact for the
    same two extremes and costs a matrix norm.)

    >>> effective_rank(torch.eye(4, dtype=torch.float64))
    4.0
    >>> effective_rank(torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64)))  # (3 + 1)² / (9 + 1)
    1.6
    """
    matrix = covariance.to(torch.float64)
    total = float(torch.diagonal(matrix).sum())
    squares = float((matrix * matrix).sum())  # trace(S S) for a symmetric S: its Frobenius norm squared
    if not math.isfinite(total) or not math.isfinite(squares) or total <= 0 or squares <= 0:
        return math.nan
    return round(total * total / squares, 6)
