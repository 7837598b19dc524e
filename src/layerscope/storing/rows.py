"""A layer's maps as rows: one row of C channels per kept position (``position x channels``), or per input.

>>> import torch
>>> maps = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)  # N=2, C=3, 2x2 positions
>>> rows = layer_rows(maps, torch.tensor([10, 11]))
>>> rows.values.shape, rows.image.tolist(), rows.y.tolist(), rows.x.tolist()
(torch.Size([8, 3]), [10, 10, 10, 10, 11, 11, 11, 11], [0, 0, 1, 1, 0, 0, 1, 1], [0, 1, 0, 1, 0, 1, 0, 1])
>>> rows.values[1].tolist()  # image 10 at (y=0, x=1): channel c is maps[0, c, 0, 1]
[1.0, 5.0, 9.0]
>>> layer_rows(maps, torch.tensor([10, 11]), pooled=True).values[0].tolist()
[1.5, 5.5, 9.5]
>>> sampled = layer_rows(maps, torch.tensor([10, 11]), positions=2, seed=0, layer="conv")
>>> sampled.image.tolist(), sampled == layer_rows(maps, torch.tensor([10, 11]), positions=2, seed=0, layer="conv")
([10, 10, 11, 11], True)

Rows of one input are in row-major position order (y, then x). The K positions of an input are
drawn by a generator seeded from (``seed``, ``layer``, the input's global index) alone, so a shard,
a resumed run and one uninterrupted run draw the same positions. Vector layers (``NC``) and
``pooled`` rows have ``y = x = -1``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import torch

__all__ = ["Rows", "layer_rows", "vector_rows", "draw_positions"]


@dataclass
class Rows:
    """``values`` (n, C) and, per row, the input's global ``image`` index (int64) and position ``y``, ``x`` (int32)."""

    values: torch.Tensor
    image: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rows) and all(torch.equal(getattr(self, k), getattr(other, k))
                                               for k in ("values", "image", "y", "x"))


def vector_rows(vectors: torch.Tensor, index: torch.Tensor) -> Rows:
    """One row per input: ``vectors`` (N, C), ``y = x = -1``."""
    none = torch.full((len(index),), -1, dtype=torch.int32)
    return Rows(vectors, index.to(torch.int64), none, none.clone())


def draw_positions(count: int, keep: int, seed: int, layer: str, index: int) -> torch.Tensor:
    """``keep`` of the ``count`` positions of one input, sorted; the same for the same (seed, layer, index).

    >>> draw_positions(10, 3, 0, "conv", 5).tolist() == draw_positions(10, 3, 0, "conv", 5).tolist()
    True
    """
    if keep >= count:
        return torch.arange(count)
    key = hashlib.sha256(f"{seed}\0{layer}\0{index}".encode()).digest()
    generator = torch.Generator().manual_seed(int.from_bytes(key[:8], "little") & (2**63 - 1))
    return torch.randperm(count, generator=generator)[:keep].sort().values


def layer_rows(maps: torch.Tensor, index: torch.Tensor, *, pooled: bool = False, positions: Optional[int] = None,
               seed: int = 0, layer: str = "") -> Rows:
    """The rows of ``maps`` (N, C, H, W) for inputs ``index`` (N,): every position, ``positions`` random ones
    per input, or the spatial mean (``pooled``)."""
    if pooled:
        return vector_rows(maps.mean(dim=(2, 3)), index)
    n, channels, height, width = maps.shape
    flat = maps.permute(0, 2, 3, 1).reshape(n, height * width, channels)
    if positions is None or positions >= height * width:
        where = torch.arange(height * width).repeat(n)
        values = flat.reshape(n * height * width, channels)
        image = index.to(torch.int64).repeat_interleave(height * width)
    else:
        chosen = [draw_positions(height * width, positions, seed, layer, int(i)) for i in index.tolist()]
        where = torch.cat(chosen)
        values = torch.cat([flat[k, c.to(flat.device)] for k, c in enumerate(chosen)])
        image = index.to(torch.int64).repeat_interleave(positions)
    return Rows(values, image, (where // width).to(torch.int32), (where % width).to(torch.int32))
