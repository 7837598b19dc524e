"""One way in for model inputs: whatever a user passes, as the batches the model takes.

>>> import torch
>>> feed = Feed(torch.zeros(5, 3, 8, 8), batch_size=2)
>>> [tuple(b.shape)[0] for b in feed], feed.count
([2, 2, 1], 5)

Every entry point (``capture``, ``show``, ``diagnose``, ...) reads its inputs through :class:`Feed`,
which picks its reader with :func:`~layerscope.io.inputs.resolve_source`, the resolver of the dataset
scan too, so they all accept the same things:

- a tensor or numpy array ``(N, ...)``: split into ``batch_size`` chunks (``one()``: as is);
- image paths, folders (an ImageFolder tree: every class folder), globs, a ``.txt`` list of paths,
  PIL images, uint8 arrays or :class:`LoadedImage`\\ s (one or a list): loaded (unreadable files
  skipped and listed unless ``strict``), preprocessed with ``preprocessing`` and stacked,
  consecutive images of equal shape per batch;
- a video file: every frame, preprocessed (sources ``PATH#frame=n``);
- a map-style ``Dataset`` (items: inputs, ``(x, y, ...)`` or dicts): its inputs, preprocessed when
  images, stacked in batches of ``batch_size`` (read by ``workers`` processes);
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

from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np
import torch

from ..capturing.call import Args, batch_size_of
from ..errors import ImageError, InputError
from .find import load_images, require_loaded
from .images import DEFAULT_MAX_PIXELS
from .inputs import Forward, resolve_source
from .shard import Shard
from .sources import ImageFiles, ImageItems, Source, TensorRows, image_tensor, is_image_like
from .streams import IterableBatches

__all__ = ["Feed", "ImageRecord", "is_image_like", "image_tensor"]


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
        workers: int = 0,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size={batch_size!r} must be an int of at least 1.")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise InputError(f"workers={workers!r} must be an int of at least 0.")
        self.inputs = inputs
        self.preprocessing = preprocessing
        self.batch_size = batch_size
        self.strict, self.recursive, self.max_pixels, self.workers = strict, recursive, max_pixels, workers
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
        """Whether the inputs are images (paths, folders, videos, PIL images) that go through the preprocessing."""
        return _all_images(self.inputs)

    def source(self) -> Source:
        """The :class:`~layerscope.io.sources.Source` that reads the inputs (the scan's resolver: one protocol)."""
        return resolve_source(self.inputs, self.preprocessing, recursive=self.recursive, max_pixels=self.max_pixels,
                              by_index=False)

    def check(self) -> "Feed":
        """Raise :class:`~layerscope.errors.ImageError` now when a path, folder or pattern finds no image.

        Cheap (nothing is decoded): call it before loading a model, so that a typo in a file name is
        reported before any weights are built or downloaded. Returns the feed.
        """
        if self.from_images:
            self.source()
        return self

    # -- one forward ------------------------------------------------------------------------------
    def one(self) -> Any:
        """All inputs as the inputs of one forward: a tensor, ``Args``, a tuple or a dict as given; images stacked
        into one batch; the batches of a dataset, a loader, an iterable or a video joined into one."""
        source = self.source()
        if isinstance(source, (ImageFiles, ImageItems)):
            return list(self._image_batches(source, whole=True))[0]
        if isinstance(source, (TensorRows, Forward)):
            self.images, self.skipped, self.sources, self.count = [], [], [], 0
            self._count(self.inputs)
            return self.inputs
        batches = list(self)  # datasets, loaders, iterables of batches, videos: their batches joined
        if not batches:
            raise InputError("The inputs hold no input: nothing to run the model on.")
        if len({tuple(b.shape[1:]) for b in batches}) > 1:
            raise InputError("The inputs have different shapes; they cannot be one forward. Pass them in batches.")
        return torch.cat(batches)

    # -- a stream of batches ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        self.images, self.skipped, self.sources, self.count = [], [], [], 0
        source = self.source()
        if isinstance(source, TensorRows):
            yield from self._chunks(_as_tensor(self.inputs, "inputs"))
        elif isinstance(source, (ImageFiles, ImageItems)):
            yield from self._image_batches(source)
        elif isinstance(source, Forward):
            self._count(self.inputs)
            yield self.inputs
        elif isinstance(source, IterableBatches):
            for index, batch in enumerate(source.iterable):
                yield from self._item(batch, index)
        else:  # read by index or in order through the source: a Dataset, a video
            yield from self._source_batches(source)

    def _source_batches(self, source: Source) -> Iterator[torch.Tensor]:
        for batch in source.batches(Shard(), 0, self.batch_size, self.workers):
            for index, reason in batch.skipped:
                if self.strict:
                    raise ImageError(f"{source.source_of(index)}: {reason}")
                self.skipped.append((source.source_of(index), reason))
            if batch.inputs is None:
                continue
            self.sources.extend(source.source_of(int(i)) for i in batch.index)
            self.count += len(batch.index)
            yield batch.inputs
        if not self.count:
            require_loaded([], self.skipped)

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

    def _image_batches(self, source: Source, whole: bool = False) -> Iterator[torch.Tensor]:
        if self.preprocessing is None:
            raise InputError(
                "Images were given but no preprocessing: pass a model spec ('builtin:digits', "
                "'torchvision:resnet18'), a LoadedModel, or preprocessing=Preprocessing(...); or pass a tensor."
            )
        self.images, self.skipped, self.sources, self.count = [], [], [], 0
        if isinstance(source, ImageFiles) and source.listing.kind == "list":
            items: list = [source.source_of(i) for i in range(source.size)]
        else:  # the listing's files, as the user spelled them
            items = list(self.inputs) if isinstance(self.inputs, (list, tuple)) else [self.inputs]
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
