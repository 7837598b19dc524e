"""``builtin:digits``: the seed tutorial's SimpleCNN and the data it is trained on.

The architecture is the tutorial's MNIST network, unchanged. The data are the
1797 real handwritten digits of scikit-learn's ``load_digits`` (8x8 pixels,
values 0-16), which ship with scikit-learn and need no network. Each one is
brought to the MNIST layout by :func:`upsample`: 8x8 -> 20x20 by bilinear
interpolation, then a 4-pixel black border -> 28x28 uint8. The network sees
``(pixel / 255 - 0.5) / 0.5`` (pixels in [0, 1], then the tutorial's
``Normalize((0.5,), (0.5,))``).

>>> model = SimpleCNN()
>>> tuple(model(torch.zeros(2, 1, 28, 28)).shape)
(2, 10)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, require

__all__ = [
    "SimpleCNN",
    "MEAN",
    "STD",
    "INPUT_SIZE",
    "CLASSES",
    "SPLIT_SEED",
    "INIT_SEED",
    "HELD_OUT_FRACTION",
    "upsample",
    "to_tensor",
    "load_split",
    "untrained",
]

MEAN: tuple[float, ...] = (0.5,)
STD: tuple[float, ...] = (0.5,)
INPUT_SIZE: tuple[int, int] = (28, 28)
CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
SPLIT_SEED = 0  # random_state of the stratified 80/20 split
INIT_SEED = 0  # seed of the random init: the untrained copy IS the starting point of training
HELD_OUT_FRACTION = 0.2
_INNER, _BORDER = 20, 4  # MNIST layout: digit in a 20x20 box, centred in 28x28


class SimpleCNN(nn.Module):
    """conv1 -> relu -> pool -> conv2 -> relu -> pool -> fc1 -> fc2 -> fc3, as in the tutorial.

    >>> [name for name, _ in SimpleCNN().named_children()]
    ['conv1', 'pool', 'conv2', 'fc1', 'fc2', 'fc3']
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.fc1 = nn.Linear(32 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def untrained() -> SimpleCNN:
    """A SimpleCNN with PyTorch's default init drawn from ``INIT_SEED``; global RNG untouched.

    >>> torch.equal(untrained().conv1.weight, untrained().conv1.weight)
    True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return SimpleCNN()


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of 1-D bilinear resampling, half-pixel centres, edges clamped."""
    centres = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    centres = np.clip(centres, 0, n_in - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    frac = centres - low
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (np.arange(n_out), low), 1 - frac)
    np.add.at(weights, (np.arange(n_out), high), frac)
    return weights


_ROWS = _bilinear_matrix(8, _INNER)
_ROWS10 = np.rint(_ROWS * 10).astype(np.int64)  # 8 -> 20 bilinear weights are exact tenths


def upsample(images: np.ndarray) -> np.ndarray:
    """load_digits 8x8 images (integers 0-16) -> uint8 (N, 28, 28) in the MNIST layout.

    Bilinear 8x8 -> 20x20 (the convention of ``F.interpolate(mode="bilinear",
    align_corners=False)``), scaled to 0..255, rounded half up, 4-pixel zero
    border. Integer arithmetic throughout, so the result is bit-identical on
    every machine.

    >>> int(upsample(np.full((1, 8, 8), 16))[0, 4:24, 4:24].min()), upsample(np.zeros((8, 8))).shape
    (255, (1, 28, 28))
    """
    values = np.asarray(images, dtype=np.float64)
    if values.size % 64 or not np.all((values == np.rint(values)) & (values >= 0) & (values <= 16)):
        raise InputError(
            f"upsample() takes load_digits images: 8x8 integers 0-16, got shape {values.shape} "
            f"with values {values.min() if values.size else None}..{values.max() if values.size else None}"
        )
    counts = np.rint(values).astype(np.int64).reshape(-1, 8, 8)
    inner = _ROWS10 @ counts @ _ROWS10.T  # = 100 * bilinear value, exactly
    out = np.zeros((counts.shape[0], *INPUT_SIZE), dtype=np.uint8)
    out[:, _BORDER:-_BORDER, _BORDER:-_BORDER] = (inner * 255 * 2 + 1600) // 3200  # round(v*255/16), half up
    return out


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> normalized float32 (N, 1, 28, 28), exactly the model's preprocessing.

    >>> to_tensor(np.array([[[0, 255]]], dtype=np.uint8)).flatten().tolist()
    [-1.0, 1.0]
    """
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0).unsqueeze(1)
    return (x - MEAN[0]) / STD[0]


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed split: (train images, train labels, held-out images, held-out labels, held-out indices).

    Images are uint8 (N, 28, 28) from :func:`upsample`; indices point into
    ``load_digits()``. Stratified 80/20, ``random_state=SPLIT_SEED``.
    Needs scikit-learn (``pip install 'layerscope[train]'``).
    """
    datasets = require("sklearn.datasets", "train", "the builtin:digits data")
    selection = require("sklearn.model_selection", "train", "the builtin:digits data")
    digits = datasets.load_digits()
    index = np.arange(len(digits.target))
    train_idx, held_idx = selection.train_test_split(
        index, test_size=HELD_OUT_FRACTION, stratify=digits.target, random_state=SPLIT_SEED
    )
    images = upsample(digits.images)
    labels = digits.target.astype(np.int64)
    return images[train_idx], labels[train_idx], images[held_idx], labels[held_idx], held_idx
