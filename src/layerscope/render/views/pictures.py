"""Pieces every view shares: the caption band, the nearest enlargement to :data:`MIN_SIZE`, the image the model saw.

>>> import numpy as np, torch
>>> captioned(np.zeros((4, 4, 3), np.uint8), "conv1").shape[0] > 4
True
>>> enlarged_size(torch.zeros(7, 7), 160)
(161, 161)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .._viewkit import text_band
from ..font import GLYPH_WIDTH

__all__ = ["MIN_SIZE", "captioned", "enlarged_size", "enlarge", "seen_images"]

MIN_SIZE = 160  # pixels: the shorter side of a single-map view is at least this (nearest upscale)


def captioned(picture: np.ndarray, title: str) -> np.ndarray:
    """``picture`` (H, W, 3) under a one-line white caption band, widened so that the caption fits."""
    width = max(picture.shape[1], len(title) * GLYPH_WIDTH + 8)
    band = text_band([title], width)
    body = np.full((picture.shape[0], width, 3), 255, np.uint8)
    left = (width - picture.shape[1]) // 2
    body[:, left : left + picture.shape[1]] = picture
    return np.concatenate([band, body], axis=0)


def enlarged_size(values: torch.Tensor, min_size: int) -> tuple[int, int]:
    """The size of ``values`` (..., H, W) enlarged by a whole factor until the shorter side reaches ``min_size``."""
    h, w = values.shape[-2:]
    factor = max(1, -(-min_size // max(min(h, w), 1)))
    return h * factor, w * factor


def enlarge(picture: np.ndarray, min_size: int) -> np.ndarray:
    """An (H, W, 3) picture enlarged nearest by a whole factor until its shorter side reaches ``min_size``."""
    if min(picture.shape[:2]) >= min_size:
        return picture
    factor = enlarged_size(torch.empty(picture.shape[:2]), min_size)[0] // picture.shape[0]
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def seen_images(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> list[np.ndarray]:
    """The (H, W, 3) uint8 images a normalized batch (N, C, H, W) shows: normalization undone, clipped to [0, 1].

    >>> seen_images(torch.zeros(1, 1, 2, 2), (0.5,), (0.5,))[0][0, 0].tolist()
    [128, 128, 128]
    """
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    pixels = (batch.detach().float().cpu() * s + m).clamp(0, 1).mul(255).round().byte()
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    return [p.permute(1, 2, 0).numpy().copy() for p in pixels[:, :3]]
