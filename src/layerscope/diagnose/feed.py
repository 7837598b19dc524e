"""Turn what the user passes to :func:`layerscope.diagnose` into a stream of input batches.

>>> import torch
>>> feed = Feed(torch.zeros(5, 3, 8, 8), preprocessing=None, batch_size=2)
>>> [tuple(b.shape)[0] for b in feed]
[2, 2, 1]

Accepted: a tensor (or numpy array) ``(N, C, H, W)`` split into ``batch_size`` chunks;
image paths, directories, globs, PIL images or LoadedImages (preprocessed with the
model's preprocessing, and their raw mode/size kept for the input checks); or any
iterable of batches (a list of tensors, a generator, a DataLoader yielding ``x`` or
``(x, y, ...)``).
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Optional

import numpy as np
import torch

from ..errors import InputError

__all__ = ["Feed", "is_image_like"]


def is_image_like(value: Any) -> bool:
    """A path, a PIL image or a LoadedImage."""
    if isinstance(value, (str, os.PathLike)):
        return True
    from PIL import Image

    from ..io import LoadedImage

    return isinstance(value, (Image.Image, LoadedImage))


def _as_tensor(value: Any, where: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        array = value.astype(np.float32) if value.dtype == np.uint8 else value
        return torch.as_tensor(array)
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (torch.Tensor, np.ndarray)):
        return _as_tensor(value[0], where)  # (x, y) from a DataLoader
    if isinstance(value, dict):
        for key in ("pixel_values", "image", "images", "input", "x"):
            if key in value:
                return _as_tensor(value[key], where)
    raise InputError(
        f"{where} is a {type(value).__name__}; diagnose needs tensors (N, C, H, W), image paths / PIL images, "
        f"or an iterable of tensor batches (or of (x, y) pairs)."
    )


class Feed:
    """Iterable of input batches; after iteration ``raw_images`` and ``skipped`` describe image inputs."""

    def __init__(self, inputs: Any, preprocessing: Any, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size={batch_size!r} must be at least 1.")
        self.inputs = inputs
        self.preprocessing = preprocessing
        self.batch_size = int(batch_size)
        self.raw_images: list[tuple[str, str, tuple[int, int]]] = []
        self.skipped: list[tuple[str, str]] = []
        self.from_images = False

    def __iter__(self) -> Iterator[torch.Tensor]:
        inputs = self.inputs
        if isinstance(inputs, (torch.Tensor, np.ndarray)):
            yield from self._chunks(_as_tensor(inputs, "inputs"))
            return
        items = inputs if isinstance(inputs, (list, tuple)) else [inputs] if is_image_like(inputs) else None
        if items is not None and items and all(is_image_like(i) for i in items):
            yield from self._images(list(items))
            return
        if not hasattr(inputs, "__iter__"):
            _as_tensor(inputs, "inputs")  # raises the explanatory error
        for index, batch in enumerate(inputs):
            yield from self._chunks(_as_tensor(batch, f"Batch {index} of the inputs"))

    def _chunks(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        if x.dim() == 0:
            raise InputError(f"A scalar input ({x.item()!r}) cannot be diagnosed; pass a batch (N, C, H, W).")
        if not x.is_floating_point():
            x = x.to(torch.float32)
        yield from x.split(self.batch_size)

    def _images(self, items: list[Any]) -> Iterator[torch.Tensor]:
        if self.preprocessing is None:
            raise InputError(
                "Images were given but the model's preprocessing is unknown. Pass a model spec "
                "('builtin:digits', 'torchvision:resnet18') or a LoadedModel, or preprocessing=Preprocessing(...), "
                "or pass a preprocessed tensor."
            )
        from ..io.find import load_images, require_loaded

        self.from_images = True
        loaded, self.skipped = load_images(items, strict=False)
        require_loaded(loaded, self.skipped)
        pending: list[torch.Tensor] = []
        for item in loaded:
            self.raw_images.append((item.path, item.original_mode, tuple(item.original_size)))
            tensor = self.preprocessing(item.image)
            if pending and (len(pending) == self.batch_size or pending[0].shape != tensor.shape):
                yield torch.stack(pending)
                pending = []
            pending.append(tensor)
        if pending:
            yield torch.stack(pending)


def first_inputs(batches: list[torch.Tensor], limit: int) -> Optional[torch.Tensor]:
    """The first ``limit`` inputs of the kept batches with the first batch's shape, as one tensor."""
    if not batches or limit <= 0:
        return None
    shape = batches[0].shape[1:]
    same = [b for b in batches if b.shape[1:] == shape]
    return torch.cat(same)[:limit]
