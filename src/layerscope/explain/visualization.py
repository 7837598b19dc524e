"""Feature visualization by optimization: the image a channel responds to most (or least).

>>> import torch.nn as nn
>>> from layerscope import Preprocessing
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
>>> result = visualize(model, "0", channels=[0, 3], steps=8, seed=0, preprocessing=Preprocessing(resize=32, crop=(32, 32)))
>>> tuple(result.images.shape), tuple(result.curves.shape), result.pixels.dtype.name
((2, 3, 32, 32), (8, 2), 'uint8')

The image is a Fourier spectrum with decorrelated colour (:mod:`.param`), optimized with Adam
at a moderate resolution and upsampled to the model's input size, seen through small random
pads, shifts, scales and rotations at every step (:mod:`.transforms`). Many channels are
optimized at once, one per batch item. The forward stops after the layer (nothing beyond it
runs). The model is left as it was: eval mode only inside, no gradient stored on its
parameters, hooks removed, also when interrupted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from . import objectives as objective_kinds
from .param import FourierImage
from .transforms import Jitter

__all__ = ["visualize", "Visualization"]

CPU_STEPS, GPU_STEPS = 128, 512


@dataclass
class Visualization:
    """The optimized images and how they were made.

    ``images``: ``(n, C, H, W)`` in the model's input space (normalized like its inputs, ready to
    feed it); ``pixels``: ``(n, H, W, 3)`` uint8 for display; ``curves``: ``(steps, n)`` the
    objective of each image at each step (before the diversity term); ``channels``, ``layer``,
    ``objective``, ``negative``, ``seed``, ``seconds``.
    """

    images: torch.Tensor
    pixels: np.ndarray
    curves: torch.Tensor
    layer: str
    channels: list[int]
    objective: str
    negative: bool
    seed: int
    seconds: float
    preprocessing: dict = field(default_factory=dict)

    def grid(self, padding: int = 2) -> np.ndarray:
        """The images side by side, ``(H, n*W + ..., 3)`` uint8, white padding."""
        n, h, w, _ = self.pixels.shape
        out = np.full((h, n * (w + padding) - padding, 3), 255, np.uint8)
        for i in range(n):
            out[:, i * (w + padding) : i * (w + padding) + w] = self.pixels[i]
        return out

    def _repr_png_(self) -> bytes:
        from ..render.png import encode_png

        return encode_png(self.grid())

    def __repr__(self) -> str:
        sign = "-" if self.negative else ""
        return (f"Visualization({self.layer!r}, {sign}{self.objective} of channels {self.channels}, "
                f"{self.curves.shape[0]} steps, {self.seconds:.1f} s)")


def _channels(channels: Union[None, int, Sequence[int]], count: int) -> list[int]:
    if channels is None:
        return list(range(min(count, 16)))
    values = [int(channels)] if isinstance(channels, int) else [int(c) for c in channels]
    bad = [c for c in values if not 0 <= c < count]
    if not values or bad:
        raise InputError(f"channels {bad or values} out of range: the layer has {count} channels (0-{count - 1}).")
    return values


def _objective(kind: str, channels: list[int], direction: Any):
    if kind not in objective_kinds.OBJECTIVES:
        from ..errors import did_you_mean

        raise InputError(f"Unknown objective {kind!r}.{did_you_mean(kind, objective_kinds.OBJECTIVES)} "
                         f"Use one of: {', '.join(objective_kinds.OBJECTIVES)}.")
    if kind == "direction":
        if direction is None:
            raise InputError("objective='direction' needs direction=, one vector over the layer's channels.")
        return objective_kinds.direction(direction)
    return objective_kinds.OBJECTIVES[kind](channels)


def visualize(
    model: Any,
    layer: str,
    channels: Union[None, int, Sequence[int]] = None,
    *,
    objective: str = "channel",
    direction: Any = None,
    negative: bool = False,
    diversity: float = 0.0,
    steps: Optional[int] = None,
    size: Optional[int] = None,
    lr: float = 0.05,
    seed: int = 0,
    transforms: bool = True,
    preprocessing: Any = None,
) -> Visualization:
    """Optimize one image per channel of ``layer`` to maximize (``negative``: minimize) ``objective``.

    ``model``: spec, ``nn.Module`` or ``LoadedModel`` (its preprocessing gives the input size and
    normalization; a bare module's is assumed ImageNet). ``channels``: indices (default the first
    16). ``objective``: ``"channel"`` (mean activation), ``"neuron"`` (centre position) or
    ``"direction"`` (with ``direction=``, a vector over the channels). ``diversity`` > 0 pushes the
    batch's images apart. ``steps``: default 128 on CPU, 512 on GPU; ``size``: the optimized
    resolution (default: the model's input size, at most 128), upsampled to the input size.
    Deterministic for a given ``seed``.
    """
    from ..capturing import Recorder
    from ..capturing.call import model_device
    from ..io.resolve import resolve_model
    from ..core.layout import to_maps

    loaded = resolve_model(model, preprocessing=preprocessing)
    module, prep = loaded.module, loaded.preprocessing
    device, dtype = model_device(module)
    height, width = prep.input_size or (224, 224)
    low = size or min(128, height, width)
    steps = steps or (GPU_STEPS if device.type == "cuda" else CPU_STEPS)
    generator = torch.Generator().manual_seed(int(seed))
    start = time.perf_counter()
    with Recorder(module, layer, grad=True, stop_early=True) as rec:
        if len(rec.names) != 1:
            raise InputError(f"layer={layer!r} selects {len(rec.names)} layers; visualize one layer at a time.")
        probe = _to_input(torch.full((1, 3, height, width), 0.5, device=device), prep, dtype)
        count = _layer_maps(rec(probe), to_maps).shape[1]
        chosen = _channels(channels, count)
        score = _objective(objective, chosen, direction)
        image = FourierImage(len(chosen), (low, low), generator=generator, device=device)
        jitter = Jitter(generator=generator) if transforms else (lambda x: x)
        optimizer = torch.optim.Adam(image.parameters(), lr=lr)
        curves = []
        for _ in range(steps):
            pixels = F.interpolate(image(), size=(height, width), mode="bilinear", align_corners=False)
            maps = _layer_maps(rec(_to_input(jitter(pixels), prep, dtype)), to_maps)
            values = score(maps)
            curves.append(values.detach().float().cpu())
            loss = values.sum() if negative else -values.sum()
            if diversity:
                loss = loss + diversity * objective_kinds.diversity(maps)
            optimizer.zero_grad(set_to_none=True)
            (grad,) = torch.autograd.grad(loss, image.parameters())
            image.spectrum.grad = grad
            optimizer.step()
    with torch.no_grad():
        final = F.interpolate(image(), size=(height, width), mode="bilinear", align_corners=False)
    pixels = (final.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return Visualization(
        images=_to_input(final, prep, dtype).detach(), pixels=pixels, curves=torch.stack(curves),
        layer=rec.names[0], channels=chosen, objective=objective, negative=negative, seed=int(seed),
        seconds=time.perf_counter() - start, preprocessing=prep.to_dict(),
    )


def _layer_maps(acts, to_maps) -> torch.Tensor:
    """The layer's output as maps (N, C, H, W); for a structured output, its first tensor."""
    key = next(iter(acts))
    return to_maps(acts[key], module_type=acts.info[key].module_type).maps


def _to_input(pixels: torch.Tensor, prep: Any, dtype: Optional[torch.dtype]) -> torch.Tensor:
    """Pixels in [0, 1] -> the model's input space (its channels, mean and std)."""
    if prep.channels == 1:
        pixels = pixels.mean(1, keepdim=True)
    mean = torch.tensor(prep.mean, dtype=pixels.dtype, device=pixels.device)[:, None, None]
    std = torch.tensor(prep.std, dtype=pixels.dtype, device=pixels.device)[:, None, None]
    x = (pixels - mean) / std
    return x.to(dtype) if dtype is not None else x
