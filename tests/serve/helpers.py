"""What the explorer tests share: a small model, pictures and videos made on the spot, y4m camera files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

import layerscope as ls


class Picky(nn.Module):
    """Two convolutions and a classifier head; fails (as a model can) on an all-white input."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 6, 3, stride=2, padding=1)
        self.head = nn.Linear(6, 4)

    def forward(self, x):
        if bool((x > 1.9).all()):
            raise ValueError("cannot handle an all-white picture")
        y = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.head(y.mean(dim=(2, 3)))


PRE = ls.Preprocessing(None, (32, 32), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 3)


def model() -> ls.LoadedModel:
    return ls.LoadedModel(Picky(), "tests:Picky", PRE)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def stripes(vertical: bool, size: int = 32) -> np.ndarray:
    """Black and white stripes, vertical or horizontal: two inputs whose maps differ."""
    line = (np.arange(size) // 4 % 2 * 255).astype(np.uint8)
    plane = np.tile(line, (size, 1)) if vertical else np.tile(line[:, None], (1, size))
    return np.repeat(plane[:, :, None], 3, axis=2)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """A YUV4MPEG2 file (4:2:0, the ``C420`` Chromium's fake camera needs) of grey frames (H, W) uint8."""
    height, width = frames[0].shape
    chroma = np.full((height // 2) * (width // 2), 128, np.uint8).tobytes()
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode())
        for frame in frames:
            handle.write(b"FRAME\n" + frame.astype(np.uint8).tobytes() + chroma + chroma)
    return path
