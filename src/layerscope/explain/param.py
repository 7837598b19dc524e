"""Image parameterizations for feature visualization: a Fourier spectrum with decorrelated colour.

>>> import torch
>>> image = FourierImage(2, (16, 20), generator=torch.Generator().manual_seed(0))
>>> pixels = image()
>>> tuple(pixels.shape), bool(((pixels > 0) & (pixels < 1)).all())
((2, 3, 16, 20), True)

Optimizing pixels directly gives high-frequency noise that a network responds to but a
person cannot read. Optimizing a *spectrum* whose coefficients are scaled by ``1/f``
(natural images have roughly that falloff) spreads each gradient step over the whole image;
mixing the three channels through the square root of natural images' colour correlation
keeps colours plausible; a sigmoid keeps pixels in ``[0, 1]``.
"""

from __future__ import annotations

from typing import Optional

import torch

__all__ = ["FourierImage", "COLOR_CORRELATION_SQRT"]

# Square root of the colour correlation of natural images (the ImageNet statistics Lucid used),
# so that independent spectra in its three "decorrelated" channels give natural colour mixtures.
COLOR_CORRELATION_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


def _frequencies(height: int, width: int) -> torch.Tensor:
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


class FourierImage:
    """``n`` RGB images of ``size`` (H, W) parameterized by their spectra; calling it gives pixels in [0, 1].

    ``decay`` is the exponent of the ``1/f`` scaling; ``sd`` the initial spectrum's standard deviation.
    ``parameters()`` are what an optimizer updates.
    """

    def __init__(
        self,
        n: int,
        size: tuple[int, int],
        *,
        decay: float = 1.0,
        sd: float = 0.01,
        generator: Optional[torch.Generator] = None,
        device: Optional[torch.device] = None,
    ) -> None:
        self.size = (int(size[0]), int(size[1]))
        height, width = self.size
        freqs = _frequencies(height, width)
        scale = (height * width) ** 0.5 / freqs.clamp_min(1.0 / max(height, width)) ** decay
        self.scale = scale.to(device)
        shape = (n, 3, height, width // 2 + 1, 2)
        spectrum = torch.randn(shape, generator=generator) * sd
        self.spectrum = spectrum.to(device).requires_grad_(True)
        correlation = COLOR_CORRELATION_SQRT / COLOR_CORRELATION_SQRT.norm(dim=0).max()
        self.color = correlation.to(device)

    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def __call__(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        image = torch.fft.irfft2(spectrum, s=self.size) / 4.0  # (n, 3, H, W) in decorrelated channels
        image = torch.einsum("nchw,dc->ndhw", image, self.color)
        return torch.sigmoid(image)
