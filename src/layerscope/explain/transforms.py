"""Transformation robustness: small random pads, shifts, scales and rotations at every step.

>>> import torch
>>> steps = Jitter(generator=torch.Generator().manual_seed(0))
>>> tuple(steps(torch.rand(2, 3, 32, 32)).shape)
(2, 3, 32, 32)

An image that excites a channel only at one exact alignment is an adversarial pattern, not
what the channel looks for. Each optimization step sees the image padded with grey,
shifted by a few pixels, rescaled by a few percent and rotated by a few degrees (all
differentiable), then brought back to the model's input size.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["Jitter"]


class Jitter:
    """The random transformations of one step, drawn from ``generator`` (deterministic with a seed)."""

    def __init__(
        self,
        *,
        pad: int = 12,
        shift: int = 8,
        scales: tuple[float, ...] = tuple(1 + (i - 5) / 50 for i in range(11)),
        degrees: tuple[float, ...] = tuple(range(-10, 11)) + (0,) * 5,
        fine_shift: int = 4,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        self.pad, self.shift, self.fine_shift = pad, shift, fine_shift
        self.scales, self.degrees = scales, degrees
        self.generator = generator

    def _pick(self, values: tuple) -> float:
        return float(values[int(torch.randint(len(values), (1,), generator=self.generator))])

    def _roll(self, x: torch.Tensor, amount: int) -> torch.Tensor:
        if amount <= 0:
            return x
        dy, dx = (int(v) for v in torch.randint(-amount, amount + 1, (2,), generator=self.generator))
        return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """``pixels`` (N, 3, H, W) in [0, 1] -> transformed pixels of the same size."""
        size = pixels.shape[-2:]
        x = F.pad(pixels, [self.pad] * 4, value=0.5) if self.pad else pixels
        x = self._roll(x, self.shift)
        scale, angle = self._pick(self.scales), math.radians(self._pick(self.degrees))
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)
        grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
        x = self._roll(x, self.fine_shift)
        if self.pad:
            x = x[..., self.pad : x.shape[-2] - self.pad, self.pad : x.shape[-1] - self.pad]
        return x if x.shape[-2:] == size else F.interpolate(x, size=size, mode="bilinear", align_corners=False)
