"""One way in for model inputs: whatever a user passes, as the batches the model takes.

>>> import torch
>>> feed = Feed(torch.zeros(5, 3, 8, 8), batch_size=2)
>>> [tuple(b.shape)[0] for b in feed], feed.count
([2, 2, 1], 5)

Every entry point (``capture``, ``show``, ``diagnose``, and the dataset scan) reads its
inputs through :class:`Feed`, so they all accept the same things:

- a tensor or numpy array ``(N, ...)``: split into ``batch_size`` chunks (``one()``: as is);
- image paths, folders, globs, PIL images, uint8 arrays or :class:`LoadedImage`\\ s (one or a
  list): loaded (unreadable files skipped and listed unless ``strict``), preprocessed with
  ``preprocessing`` and stacked, consecutive images of equal shape per batch;
- :class:`~layerscope.Args` (positional and keyword inputs), a tuple (positional) or a dict
  (keywords): the inputs of one forward;
- any other iterable of batches (a list of tensors, a generator, a ``DataLoader``): each
  item is a batch; an ``(x, y, ...)`` item feeds ``x``, a dict item its image entry
  (``pixel_values``, ``image``, ...), an ``Args`` item both kinds of inputs.

After (or during) iteration, ``images`` holds what was loaded (path, notes, original mode
and size; the pixels are not kept), ``skipped`` the ``(path, reason)`` of unreadable files,
``sources`` a label per input (the path, or ``<tensor>``) and ``count`` the inputs so far.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np
import torch

from ..capturing.call import Args, batch_size_of
from ..errors import InputError
from .images import DEFAULT_MAX_PIXELS, LoadedImage

__all__ = ["Feed", "ImageRecord", "is_image_like", "image_tensor"]

_IMAGE_KEYS = ("pixel_values", "image", "images", "input", "x")


def is_image_like(value: Any) -> bool:
    """A path, a PIL image or a :class:`LoadedImage` (what the image loader takes)."""
    if isinstance(value, (str, os.PathLike, LoadedImage)):
        return True
    from PIL import Image

    return isinstance(value, Image.Image)


def _all_images(value: Any) -> bool:
    if is_image_like(value):
        return True
    return isinstance(value, list) and bool(value) and all(is_image_like(v) for v in value)


@dataclass(frozen=True)
class ImageRecord:
    """What the input checks and reports need of a loaded image (its pixels are not kept)."""

    path: str
    notes: tuple[str, ...]
    original_mode: str
    original_size: tuple[int, int]


def image_tensor(batch: Any) -> Optional[torch.Tensor]:
    """The image-like tensor of a batch: the batch itself, the first tensor of ``Args``/tuple, a dict's image entry."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, dict):
        for key in _IMAGE_KEYS:
            if isinstance(batch.get(key), torch.Tensor):
                return batch[key]
    values = batch.values() if isinstance(batch, (Args, dict)) else batch if isinstance(batch, (list, tuple)) else ()
    return next((v for v in values if isinstance(v, torch.Tensor)), None)


class Feed:
    """Iterable of input batches; see the module docstring for what it accepts."""

    def __init__(
        self,
        inputs: Any,
        preprocessing: Any = None,
        batch_size: int = 32,
        *,
        strict: bool = False,
        recursive: bool = False,
        max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size={batch_size!r} must be an int of at least 1.")
        self.inputs = inputs
        self.preprocessing = preprocessing
        self.batch_size = batch_size
        self.strict, self.recursive, self.max_pixels = strict, recursive, max_pixels
        self.images: list[ImageRecord] = []
        self.skipped: list[tuple[str, str]] = []
        self.sources: list[str] = []
        self.count = 0

    @classmethod
    def of(cls, inputs: Any, preprocessing: Any = None, batch_size: int = 32) -> "Feed":
        """``inputs`` as a Feed: one the caller made (with its loading options) is used itself, and gets
        ``preprocessing`` when it has none; anything else becomes ``Feed(inputs, preprocessing, batch_size)``."""
        if not isinstance(inputs, Feed):
            return cls(inputs, preprocessing, batch_size)
        if inputs.preprocessing is None:
            inputs.preprocessing = preprocessing
        return inputs

    @property
    def from_images(self) -> bool:
        return _all_images(self.inputs)

    def check(self) -> "Feed":
        """Raise :class:`~layerscope.errors.ImageError` now when a path, folder or pattern finds no image.

        Cheap (nothing is decoded): call it before loading a model, so that a typo in a file name is
        reported before any weights are built or downloaded. Returns the feed.
        """
        if self.from_images:
            from .find import find_images

            items = self.inputs if isinstance(self.inputs, list) else [self.inputs]
            paths = [item for item in items if isinstance(item, (str, os.PathLike))]
            if paths:
                find_images(paths, recursive=self.recursive)
        return self

    # -- one forward ------------------------------------------------------------------------------
    def one(self) -> Any:
        """All inputs as the inputs of one forward (images stacked into one batch, else as given)."""
        if not self.from_images:
            self._count(self.inputs)
            return self.inputs
        return list(self._image_batches(whole=True))[0]

    # -- a stream of batches ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        self.images, self.skipped, self.sources, self.count = [], [], [], 0
        inputs = self.inputs
        if isinstance(inputs, (torch.Tensor, np.ndarray)):
            yield from self._chunks(_as_tensor(inputs, "inputs"))
        elif self.from_images:
            yield from self._image_batches()
        elif isinstance(inputs, (Args, dict, tuple)):
            self._count(inputs)
            yield inputs
        elif hasattr(inputs, "__iter__") and not isinstance(inputs, (str, bytes)):
            for index, batch in enumerate(inputs):
                yield from self._item(batch, index)
        else:
            raise _unusable(inputs, "inputs")

    def _item(self, batch: Any, index: int) -> Iterator[Any]:
        where = f"Batch {index} of the inputs"
        if isinstance(batch, Args):
            self._count(batch)
            yield batch
        elif isinstance(batch, (list, tuple)) and batch and not _all_images(batch):
            yield from self._chunks(_as_tensor(batch[0], where))  # (x, y, ...) from a DataLoader
        elif isinstance(batch, dict):
            yield from self._chunks(_as_tensor(image_tensor(batch), where))
        else:
            yield from self._chunks(_as_tensor(batch, where))

    def _count(self, batch: Any, label: str = "<tensor>") -> None:
        n = batch_size_of(batch) or 1
        self.count += n
        self.sources.extend([label] * n)

    def _chunks(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        if x.dim() == 0:
            raise InputError(f"A scalar input ({x.item()!r}) is not a batch; pass a batch (N, C, H, W).")
        if x.dtype == torch.uint8:  # raw image pixels; integer token ids stay integers
            x = x.to(torch.float32)
        for chunk in x.split(self.batch_size):
            self._count(chunk)
            yield chunk

    def _image_batches(self, whole: bool = False) -> Iterator[torch.Tensor]:
        if self.preprocessing is None:
            raise InputError(
                "Images were given but no preprocessing: pass a model spec ('builtin:digits', "
                "'torchvision:resnet18'), a LoadedModel, or preprocessing=Preprocessing(...); or pass a tensor."
            )
        from .find import load_images, require_loaded

        items = self.inputs if isinstance(self.inputs, list) else [self.inputs]
        loaded, self.skipped = load_images(
            items, strict=self.strict, recursive=self.recursive, max_pixels=self.max_pixels
        )
        require_loaded(loaded, self.skipped)
        pending: list[torch.Tensor] = []
        for item in loaded:
            self.images.append(ImageRecord(item.path, tuple(item.notes), item.original_mode, tuple(item.original_size)))
            tensor = self.preprocessing(item.image)
            if pending and ((len(pending) == self.batch_size and not whole) or pending[0].shape != tensor.shape):
                if whole:
                    raise _shapes_differ(pending[0], tensor, self.preprocessing)
                yield self._stacked(pending)
                pending = []
            pending.append(tensor)
            self.sources.append(item.path)
        yield self._stacked(pending)

    def _stacked(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        self.count += len(tensors)
        return torch.stack(tensors)


def _shapes_differ(first: torch.Tensor, other: torch.Tensor, preprocessing: Any) -> InputError:
    return InputError(
        f"Images give different tensor shapes after preprocessing ({tuple(first.shape)} vs {tuple(other.shape)}): "
        f"{preprocessing.describe()}. Set a size (with_preprocessing(size=N) / --size N) so every image is "
        "cropped alike, or pass them one at a time."
    )


def _as_tensor(value: Any, where: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value.astype(np.float32) if value.dtype == np.uint8 else value)
    raise _unusable(value, where)


def _unusable(value: Any, where: str) -> InputError:
    return InputError(
        f"{where} is a {type(value).__name__}; layerscope takes tensors (N, C, H, W), image paths / folders / "
        "PIL images, layerscope.Args(*args, **kwargs), or an iterable of tensor batches (or of (x, y) pairs)."
    )
