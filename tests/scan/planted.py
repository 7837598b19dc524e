"""A planted dataset and a model with hand-set weights that finds it (shared by the scan tests).

Images are 32x32 grayscale PNG files on a noisy grey background. The model's ``0`` (a 5x5 conv)
has three channels: 0 is a matched filter for :data:`PATTERN` (a cross), 1 is dead (zero
weights, bias -1), 2 fires only on a white 5x5 square (a rare feature). ``3`` (after ReLU and
2x2 max pooling) sums channel 0 over 3x3 cells.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from layerscope import Preprocessing

SIZE = 32
COUNT = 30
PATTERN = -np.ones((5, 5))
PATTERN[2, :] = PATTERN[:, 2] = 1.0  # a cross of +1 on -1
# image index -> (row, col, contrast): exactly these images carry the pattern, strongest first
PLANTED = {17: (3, 20, 90), 4: (12, 6, 75), 25: (21, 14, 60), 9: (0, 0, 45), 12: (27, 27, 30)}
BRIGHT = 7  # the one image with a white square (channel 2)
PREPROCESSING = Preprocessing(resize=None, crop=None, mean=(0.0,), std=(1.0,), channels=1, source="tests")


def image(index: int) -> np.ndarray:
    rng = np.random.default_rng(index)
    pixels = 128.0 + rng.uniform(-6, 6, (SIZE, SIZE))
    if index in PLANTED:
        row, col, contrast = PLANTED[index]
        pixels[row : row + 5, col : col + 5] = 128.0 + contrast * PATTERN
    if index == BRIGHT:
        pixels[10:15, 10:15] = 255.0
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def write_dataset(folder: Path, count: int = COUNT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(image(index)).save(folder / f"img_{index:03d}.png")
    return folder


def planted_model() -> nn.Sequential:
    conv, pool_sum = nn.Conv2d(1, 3, 5), nn.Conv2d(3, 1, 3)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = torch.from_numpy(PATTERN - PATTERN.mean())
        conv.weight[2, 0] = 1.0
        conv.bias.copy_(torch.tensor([0.0, -1.0, -24.5]))  # channel 2: every one of its 25 pixels > 0.98
        pool_sum.weight.zero_()
        pool_sum.weight[0, 0] = 1.0
        pool_sum.bias.zero_()
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), pool_sum).eval()


def build():
    """A model factory for ``file.py:build`` specs in subprocess tests."""
    return planted_model()
