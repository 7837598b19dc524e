"""Calibrate the input checks on real photos: correct vs mistaken normalization, and input noise.

    python tools/calibrate_inputs.py [--draws 200]   # 2-4 minutes on 2 cores

The 18 photos scikit-image ships (natural scenes, micrographs, astronomy, documents; no download)
go through the ImageNet preprocessing (resize 256, crop 224) and are normalized five ways: correctly,
with 0.5/0.5, not at all (mean 0, std 1), divided by the std only, and twice. For each way,
:func:`~layerscope.diagnosis.check_inputs` runs on every photo alone and on random sets of 2, 4 and 8
photos; printed: the share of cases with a normalization finding (``input.normalization`` or
``input.range``), and the numbers the cut points are read from. Then the input noise score of the
photos at 224, 64 and 32 pixels against random-pixel images (``input.noise``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

import numpy as np
import torch

NATURAL = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
           "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket", "text")
CODES = ("input.normalization", "input.range")


def photos(size: int = 224) -> dict[str, torch.Tensor]:
    """The photos as [0, 1] RGB tensors (3, size, size) after the ImageNet resize / crop."""
    from PIL import Image
    from skimage import data

    from layerscope.io import Preprocessing

    scale = Preprocessing().with_overrides(size=size, mean=(0.0,), std=(1.0,))
    out = {}
    for name in NATURAL:
        array = getattr(data, name)()
        out[name] = scale(Image.fromarray(array if array.ndim == 2 else array[..., :3]).convert("RGB"))
    return out


def normalizations() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Ways of turning [0, 1] pixels into model input: the right one and four common mistakes."""
    from layerscope.io import IMAGENET_MEAN, IMAGENET_STD

    m, s = (torch.tensor(v)[:, None, None] for v in (IMAGENET_MEAN, IMAGENET_STD))
    return {
        "correct (ImageNet)": lambda p: (p - m) / s,
        "0.5/0.5": lambda p: (p - 0.5) / 0.5,
        "not normalized": lambda p: p,
        "std only (no mean)": lambda p: p / s,
        "normalized twice": lambda p: ((p - m) / s - m) / s,
    }


def flagged(x: torch.Tensor) -> bool:
    """Whether the input checks report a normalization / range finding for this batch.

    >>> pixels = torch.linspace(0, 1, 3 * 32 * 32).reshape(1, 3, 32, 32)  # [0, 1], never normalized
    >>> flagged(pixels), flagged(normalizations()["correct (ImageNet)"](pixels))
    (True, False)
    """
    from layerscope.io import Preprocessing
    from layerscope.diagnosis import InputStats, check_inputs

    return any(f.code in CODES for f in check_inputs(InputStats().update(x), Preprocessing()))


def _numbers(x: torch.Tensor) -> tuple[float, float, float]:
    """(share of the ImageNet range used, smallest channel std, largest |channel mean|)."""
    from layerscope.io import IMAGENET_MEAN, IMAGENET_STD

    bound = max(max(abs(-m / s), abs((1 - m) / s)) for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))
    per_channel = x.transpose(0, 1).reshape(3, -1).double()
    return float(x.abs().max()) / bound, float(per_channel.std(1).min()), float(per_channel.mean(1).abs().max())


def normalization_table(images: dict[str, torch.Tensor], draws: int) -> None:
    rng = np.random.default_rng(0)
    names = list(images)
    print(f"{'normalization':20s} {'flagged: 1 photo':>16s} {'2':>6s} {'4':>6s} {'8':>6s}   range used (min..max), "
          f"min channel std, max |channel mean| over single photos")
    for label, apply in normalizations().items():
        single = [apply(images[n])[None] for n in names]
        rates = [np.mean([flagged(x) for x in single])]
        for k in (2, 4, 8):
            sets = [rng.choice(len(names), k, replace=False) for _ in range(draws)]
            rates.append(np.mean([flagged(torch.cat([single[i] for i in idx])) for idx in sets]))
        numbers = np.array([_numbers(x) for x in single])
        print(f"{label:20s} {rates[0]:16.2f} {rates[1]:6.2f} {rates[2]:6.2f} {rates[3]:6.2f}   "
              f"{numbers[:, 0].min():.2f}..{numbers[:, 0].max():.2f}, {numbers[:, 1].min():.2f}..{numbers[:, 1].max():.2f}, "
              f"{numbers[:, 2].min():.2f}..{numbers[:, 2].max():.2f}")


def noise_table() -> None:
    from layerscope.stats import noise_score

    print("\ninput noise score (channel mean; 0 smooth, 1 pixel noise):")
    for size in (224, 64, 32):
        scores = {n: float(noise_score(x.mean(0)[None, None].double())) for n, x in photos(size).items()}
        worst = max(scores, key=scores.get)
        print(f"  photos at {size:3d}: median {np.median(list(scores.values())):.3f}, max {scores[worst]:.3f} ({worst})")
    pixels = torch.rand(16, 1, 224, 224, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    print(f"  random pixels: {float(noise_score(pixels).min()):.3f} .. {float(noise_score(pixels).max()):.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/calibrate_inputs.py",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=200, help="random photo sets per size (default 200)")
    args = parser.parse_args(argv)
    normalization_table(photos(), args.draws)
    noise_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
