"""The held-out split rebuilt independently of layerscope.zoo.digits (sklearn + torch bilinear as the oracle)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

sklearn_datasets = pytest.importorskip("sklearn.datasets")
from sklearn.model_selection import train_test_split  # noqa: E402


def oracle_upsample(images8: np.ndarray) -> np.ndarray:
    """8x8 (0-16) -> 20x20 with torch's bilinear (align_corners=False) -> 0-255, rounded half up, 4 px border."""
    x = torch.from_numpy(np.asarray(images8, dtype=np.float64)).reshape(-1, 1, 8, 8)
    inner = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)[:, 0] * (255 / 16)
    out = np.zeros((x.shape[0], 28, 28), dtype=np.uint8)
    out[:, 4:24, 4:24] = np.clip(np.floor(inner.numpy() + 0.5 + 1e-6), 0, 255).astype(np.uint8)
    return out


@dataclass(frozen=True)
class HeldOut:
    indices: np.ndarray  # into load_digits()
    images: np.ndarray  # uint8 (N, 28, 28), from the oracle upsampling
    labels: np.ndarray
    raw: np.ndarray  # the 8x8 originals


@pytest.fixture(scope="session")
def held_out() -> HeldOut:
    digits = sklearn_datasets.load_digits()
    index = np.arange(len(digits.target))
    _, held = train_test_split(index, test_size=0.2, stratify=digits.target, random_state=0)
    return HeldOut(held, oracle_upsample(digits.images[held]), digits.target[held], digits.images[held])


def normalized(images: np.ndarray) -> torch.Tensor:
    """The stated preprocessing, written out: uint8 / 255, then (x - 0.5) / 0.5."""
    return (torch.from_numpy(images).float().unsqueeze(1) / 255.0 - 0.5) / 0.5
