"""Feature visualization by optimization: the image a channel responds to most (or least).

>>> import torch.nn as nn
>>> from layerscope import Preprocessing
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
>>> result = visualize(model, "0", channels=[0, 3], steps=8, seed=0, preprocessing=Preprocessing(resize=32, crop=(32, 32)))
>>> tuple(result.images.shape), tuple(result.curves.shape), result.pixels.dtype.name
((2, 3, 32, 32), (8, 2), 'uint8')
>>> import tempfile
>>> sorted(p.name for p in result.save(tempfile.mkdtemp() + "/viz").iterdir())
['channel-0.png', 'channel-3.png', 'channels.png', 'index.json']

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
from typing import Any, ClassVar, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..capturing import Recorder
from ..capturing.call import model_device
from ..core.jsonio import jsonable
from ..core.outputs import OutputFolder
from ..core.results import Result
from ..errors import InputError
from ..render.png import encode_png
from ..run.maps import LayerMaps
from ..run.progress import Progress
from ..run.subject import Subject
from . import objectives as objective_kinds
from .options import CPU_STEPS, GPU_STEPS, VisualizeOptions
from .param import FourierImage
from .transforms import Jitter

__all__ = ["visualize", "Visualization", "VisualizeOptions"]

DISPLAY = 256  # pixels: small results are enlarged (nearest) to at least this size in the saved PNGs


@dataclass
class Visualization(Result):
    """The optimized images and how they were made.

    ``images``: ``(n, C, H, W)`` in the model's input space (normalized like its inputs, ready to
    feed it); ``pixels``: ``(n, H, W, 3)`` uint8 for display; ``curves``: ``(steps, n)`` the
    objective of each image at each step (before the diversity term); ``channels``, ``layer``,
    ``objective``, ``negative``, ``seed``, ``seconds``, the ``preprocessing`` and the ``model``
    (its provenance). :meth:`save` writes ``channel-<C>.png`` per channel, ``channels.png`` (all
    side by side) and ``index.json``.
    """

    index_name: ClassVar[str] = "index.json"

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
    model: dict = field(default_factory=dict)

    def grid(self, padding: int = 2) -> np.ndarray:
        """The images side by side, ``(H, n*W + ..., 3)`` uint8, white padding."""
        n, h, w, _ = self.pixels.shape
        out = np.full((h, n * (w + padding) - padding, 3), 255, np.uint8)
        for i in range(n):
            out[:, i * (w + padding) : i * (w + padding) + w] = self.pixels[i]
        return out

    def _repr_png_(self) -> bytes:
        return encode_png(self.grid())

    def to_dict(self) -> dict[str, Any]:
        """The index: the layer, channels, objective, seed, time, the objective curves, the model and its preprocessing."""
        return jsonable({
            "layer": self.layer, "channels": self.channels, "objective": self.objective, "negative": self.negative,
            "seed": self.seed, "seconds": self.seconds, "steps": int(self.curves.shape[0]),
            "curves": self.curves.T.tolist(), "model": self.model or None, "preprocessing": self.preprocessing,
        }, digits=6)

    def write_files(self, folder: OutputFolder) -> None:
        names = [f"channel-{c}.png" for c in self.channels]
        folder.claim([*names, "channels.png"])
        for name, pixels in zip(names, self.pixels):
            folder.write(encode_png(_enlarged(pixels)), name)
        folder.write(encode_png(_enlarged(self.grid())), "channels.png")

    def save(self, out: Any, *, overwrite: bool = False) -> Any:
        """Write ``channel-<C>.png`` per channel, ``channels.png`` and last ``index.json`` under ``out``
        (the rule of :class:`~layerscope.core.outputs.OutputFolder`); returns ``out`` as a Path."""
        folder = OutputFolder(out, self.index_name, overwrite=overwrite)
        self.write_files(folder)
        folder.finish(self.to_dict(), indent=1)
        return folder.out

    def summary(self) -> str:
        sign = "-" if self.negative else ""
        start, end = self.curves[0].mean().item(), self.curves[-1].mean().item()
        return (f"{self.layer}: {len(self.channels)} channel(s) {self.channels} optimized for {sign}{self.objective}, "
                f"{self.curves.shape[0]} steps in {self.seconds:.1f} s; mean objective {start:.3g} -> {end:.3g}.")

    def __repr__(self) -> str:
        sign = "-" if self.negative else ""
        return (f"Visualization({self.layer!r}, {sign}{self.objective} of channels {self.channels}, "
                f"{self.curves.shape[0]} steps, {self.seconds:.1f} s)")


def _enlarged(pixels: np.ndarray) -> np.ndarray:
    factor = max(1, DISPLAY // max(pixels.shape[:2]))
    return np.kron(pixels, np.ones((factor, factor, 1), np.uint8)) if factor > 1 else pixels


def _channels(channels: Union[None, int, Sequence[int]], count: int) -> list[int]:
    if channels is None:
        return list(range(min(count, 16)))
    values = [int(channels)] if isinstance(channels, int) else [int(c) for c in channels]
    bad = [c for c in values if not 0 <= c < count]
    if not values or bad:
        raise InputError(f"channels {bad or values} out of range: the layer has {count} channels (0-{count - 1}).")
    return values


def _objective(kind: str, channels: list[int], direction: Any):
    """The objective function (checked by :class:`VisualizeOptions`)."""
    if kind == "direction":
        return objective_kinds.direction(direction)
    return objective_kinds.OBJECTIVES[kind](channels)


def visualize(
    model: Any,
    layer: str,
    channels: Union[None, int, Sequence[int]] = None,
    *,
    options: Optional[VisualizeOptions] = None,
    preprocessing: Any = None,
    **fields: Any,
) -> Visualization:
    """Optimize one image per channel of ``layer`` to maximize (``negative``: minimize) the objective.

    ``model``: a :class:`~layerscope.run.Subject`, spec, ``nn.Module`` or ``LoadedModel`` (its
    preprocessing gives the input size and normalization; a bare module's is assumed ImageNet;
    ``preprocessing=`` replaces it). ``channels``: indices (default the first 16). ``options``: a
    :class:`~layerscope.explain.options.VisualizeOptions` (objective, direction, negative, diversity,
    steps, size, lr, seed, transforms), any of whose fields may be given as a keyword that replaces
    it: ``visualize(model, "conv2", steps=48, seed=0)``. Deterministic for a given ``seed``.
    """
    options = VisualizeOptions.of(options, **fields)
    subject = Subject.of(model, preprocessing=preprocessing)
    loaded = subject.loaded
    module, prep = loaded.module, loaded.preprocessing
    device, dtype = model_device(module)
    height, width = prep.input_size or (224, 224)
    low = options.size or min(128, height, width)
    steps = options.steps or (GPU_STEPS if device.type == "cuda" else CPU_STEPS)
    generator = torch.Generator().manual_seed(int(options.seed))
    reader = LayerMaps(transforms=subject.transforms)  # a dictionary's latents are visualized like channels
    start = time.perf_counter()
    with Recorder(module, layer, grad=True, stop_early=True) as rec:
        if len(rec.names) != 1:
            raise InputError(f"layer={layer!r} selects {len(rec.names)} layers; visualize one layer at a time.")
        probe = _to_input(torch.full((1, 3, height, width), 0.5, device=device), prep, dtype)
        count = _layer_maps(reader, rec(probe), (height, width)).shape[1]
        chosen = _channels(channels, count)
        score = _objective(options.objective, chosen, options.direction)
        image = FourierImage(len(chosen), (low, low), generator=generator, device=device)
        jitter = Jitter(generator=generator) if options.transforms else (lambda x: x)
        optimizer = torch.optim.Adam(image.parameters(), lr=options.lr)
        curves = []
        what = f"{len(chosen)} channels of {rec.names[0]} x {steps} steps on {device}"
        progress = Progress(steps, desc="visualize", unit="step", enabled=options.progress, what=what,
                            hint="--steps (steps=) or fewer --channels shorten it")
        for _ in progress.each(range(steps)):
            pixels = F.interpolate(image(), size=(height, width), mode="bilinear", align_corners=False)
            maps = _layer_maps(reader, rec(_to_input(jitter(pixels), prep, dtype)), (height, width))
            values = score(maps)
            curves.append(values.detach().float().cpu())
            loss = values.sum() if options.negative else -values.sum()
            if options.diversity:
                loss = loss + options.diversity * objective_kinds.diversity(maps)
            optimizer.zero_grad(set_to_none=True)
            (grad,) = torch.autograd.grad(loss, image.parameters())
            image.spectrum.grad = grad
            optimizer.step()
    with torch.no_grad():
        final = F.interpolate(image(), size=(height, width), mode="bilinear", align_corners=False)
    pixels = (final.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return Visualization(
        images=_to_input(final, prep, dtype).detach(), pixels=pixels, curves=torch.stack(curves),
        layer=rec.names[0], channels=chosen, objective=options.objective, negative=options.negative,
        seed=int(options.seed), seconds=time.perf_counter() - start, preprocessing=prep.to_dict(),
        model=loaded.to_dict(),
    )


def _layer_maps(reader: LayerMaps, acts: Any, input_size: tuple[int, int]) -> torch.Tensor:
    """The layer's output as maps (N, C, H, W); for a structured output, its first tensor."""
    key = next(iter(acts))
    maps = reader.maps(key, acts[key], {"module_type": acts.info[key].module_type}, input_size)
    if maps is None:
        raise InputError(f"Layer {key!r} cannot be visualized: {reader.skipped[key]}")
    return maps.maps


def _to_input(pixels: torch.Tensor, prep: Any, dtype: Optional[torch.dtype]) -> torch.Tensor:
    """Pixels in [0, 1] -> the model's input space (its channels, mean and std)."""
    if prep.channels == 1:
        pixels = pixels.mean(1, keepdim=True)
    mean = torch.tensor(prep.mean, dtype=pixels.dtype, device=pixels.device)[:, None, None]
    std = torch.tensor(prep.std, dtype=pixels.dtype, device=pixels.device)[:, None, None]
    x = (pixels - mean) / std
    return x.to(dtype) if dtype is not None else x
