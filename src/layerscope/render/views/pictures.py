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

from ...errors import InputError
from ...io.preprocess import Preprocessing
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
    """The (H, W, 3) uint8 images a normalized batch (N, C, H, W) shows: normalization undone, clipped to [0, 1]
    (:meth:`Preprocessing.pixels <layerscope.io.preprocess.Preprocessing.pixels>`, the one inverse).

    >>> seen_images(torch.zeros(1, 1, 2, 2), (0.5,), (0.5,))[0][0, 0].tolist()
    [128, 128, 128]
    """
    pixels = Preprocessing(mean=tuple(mean), std=tuple(std), channels=len(mean)).pixels(batch)
    if pixels is None or batch.dim() != 4:
        shape = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
        raise InputError(f"seen_images takes a floating batch (N, {len(mean)}, H, W) for {len(mean)} means, got {shape}.")
    return list(pixels)
