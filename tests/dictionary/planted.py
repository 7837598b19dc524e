"""A planted model: each position of its layer ``mix`` is a sparse combination of known feature directions,
rotated by a random orthogonal matrix, so that no single channel is one feature.

Images (3, 8, 8) are a 2 x 2 grid of 4 x 4 cells; an image plants one or two features, each in its own cell,
with a magnitude in [0.5, 1.5]; two features share a cell with probability ``overlap``. Feature j's pattern is row j of a random orthogonal 48 x 48 matrix; ``detect``
(a 4 x 4 stride-4 convolution whose filters are those patterns) reads each cell's coefficients exactly, and
``mix`` (a 1 x 1 convolution, weight ``rotation``) turns them into channels: the output at a cell is
``sum_j a_j * rotation[:, j]``. The planted directions are the columns of ``rotation``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn as nn

CELL, GRID = 4, 2


@dataclass
class Planted:
    model: nn.Module
    images: torch.Tensor  # (N, 3, 8, 8)
    planted: list[list[tuple[int, int, int, float]]]  # per image: (feature, row, col, magnitude)
    directions: torch.Tensor  # (features, channels): unit rows

    def with_feature(self, j: int) -> set[int]:
        return {i for i, marks in enumerate(self.planted) if any(f == j for f, *_ in marks)}

    def rows(self, chunk: int = 64) -> list[torch.Tensor]:
        """The layer ``mix``'s rows (N * 4, C), in chunks of ``chunk`` images."""
        with torch.no_grad():
            out = []
            for part in self.images.split(chunk):
                maps = self.model(part)
                out.append(maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1]))
            return out


def planted(features: int = 16, channels: int = 16, images: int = 400, seed: int = 0, overlap: float = 0.5) -> Planted:
    g = torch.Generator().manual_seed(seed)
    patterns = torch.linalg.qr(torch.randn(3 * CELL * CELL, 3 * CELL * CELL, generator=g))[0][:features]
    rotation = torch.linalg.qr(torch.randn(channels, channels, generator=g))[0][:, :features]
    detect = nn.Conv2d(3, features, CELL, stride=CELL, bias=False)
    mix = nn.Conv2d(features, channels, 1, bias=False)
    with torch.no_grad():
        detect.weight.copy_(patterns.reshape(features, 3, CELL, CELL))
        mix.weight.copy_(rotation[:, :, None, None])
    model = nn.Sequential(OrderedDict(detect=detect, relu=nn.ReLU(), mix=mix)).eval()
    x = torch.zeros(images, 3, CELL * GRID, CELL * GRID)
    marks = []
    for i in range(images):
        count = 1 + int(torch.rand(1, generator=g) < 0.5)
        chosen = torch.randperm(features, generator=g)[:count].tolist()
        cells = torch.randperm(GRID * GRID, generator=g)[:count].tolist()
        if count == 2 and float(torch.rand(1, generator=g)) < overlap:
            cells[1] = cells[0]  # both features at one position: that position is a sum of two directions
        here = []
        for j, cell in zip(chosen, cells):
            r, c = divmod(cell, GRID)
            a = 0.5 + float(torch.rand(1, generator=g))
            x[i, :, r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL] += a * patterns[j].reshape(3, CELL, CELL)
            here.append((j, r, c, a))
        marks.append(here)
    return Planted(model, x, marks, rotation.t().contiguous())


def matched(directions: torch.Tensor, decoder: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per planted direction, the best cosine over the decoder's rows and which row gives it."""
    cos = (directions / directions.norm(dim=1, keepdim=True)) @ (decoder / decoder.norm(dim=1, keepdim=True)).t()
    return cos.max(dim=1)
