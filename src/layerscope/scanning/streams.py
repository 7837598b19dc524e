"""Data read in order: a video's frames, any iterable of batches; and ``resolve_source``, which picks the reader.

>>> import torch
>>> source = resolve_source([torch.zeros(3, 2), (torch.ones(2, 2), torch.tensor([7, 8]))], None)
>>> [(b.index.tolist(), b.labels) for b in source.batches(Shard(0, 1), start=0, batch_size=4)]
[([0, 1, 2, 3], [None, None, None, 7]), ([4], [8])]
>>> source.kind, source.size
('iterable', 5)
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset
from torch.utils.data._utils.collate import default_collate

from ..capturing.call import Args
from ..errors import ImageError, InputError
from ..io.feed import image_tensor
from ..io.images import DEFAULT_MAX_PIXELS
from .files import list_files
from .shard import Shard
from .sources import Batch, DatasetItems, ImageFiles, Source, TensorRows, _as_input, _collate, _label
from .video import frame, frame_count, frames, is_video, video_fingerprint

__all__ = ["StreamSource", "VideoFrames", "IterableBatches", "resolve_source"]

Item = tuple  # (global index, tensor or None, reason or None, label or None)


class StreamSource(Source):
    """Inputs read in order; ``size`` is known once the stream has been read to its end."""

    def items(self, want: Callable[[int], bool]) -> Iterator[Item]:
        raise NotImplementedError

    def batches(self, shard: Shard, start: int, batch_size: int, workers: int = 0) -> Iterator[Batch]:
        skip = start * batch_size
        seen = 0  # shard positions so far

        def want(index: int) -> bool:
            nonlocal seen
            if not shard.holds(index):
                return False
            seen += 1
            return seen > skip

        pending: list[Item] = []
        for item in self.items(want):
            pending.append(item)
            if len(pending) == batch_size:
                yield _collate(pending)
                pending = []
        if pending:
            yield _collate(pending)

    def load(self, index: int) -> torch.Tensor:
        for _, tensor, reason, _ in self.items(lambda i: i == index):
            if tensor is None:
                raise ImageError(f"{self.source_of(index)}: {reason}")
            return tensor
        raise InputError(f"The data has no input {index} (it has {self.size}); was it changed since the scan?")


class VideoFrames(StreamSource):
    """The frames of a video file (PyAV); input n is frame n."""

    kind = "video"

    def __init__(self, path: str, preprocessing: Any) -> None:
        if preprocessing is None:
            raise InputError("Video frames need the model's preprocessing; pass a model spec or preprocessing=.")
        self.path, self.preprocessing = os.path.abspath(path), preprocessing
        self.root = os.path.dirname(self.path)
        self.declared = frame_count(self.path)
        self._fingerprint = video_fingerprint(self.path)

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def shard_size(self, shard: Shard) -> Optional[int]:
        size = self.size if self.size is not None else self.declared or None
        return None if size is None else len(shard.positions(size))

    def source_of(self, index: int) -> str:
        return f"{self.path}#frame={index}"

    def items(self, want: Callable[[int], bool]) -> Iterator[Item]:
        count = 0
        for count, image in enumerate(frames(self.path), start=1):
            if want(count - 1):
                yield count - 1, self.preprocessing(image), None, None
        self.size = count

    def load(self, index: int) -> torch.Tensor:
        return self.preprocessing(frame(self.path, index))


def _rows(batch: Any, preprocessing: Any, where: str) -> tuple[torch.Tensor, list]:
    """The inputs (N, ...) and labels of one batch of an iterable: a tensor, ``(x, y, ...)``, a dict."""
    labels: Any = None
    if isinstance(batch, Args):
        raise InputError(f"{where} is layerscope.Args; scan takes image batches (a tensor, (x, y) pairs or dicts).")
    if isinstance(batch, (tuple, list)) and batch and not isinstance(batch[0], (Image.Image, str)):
        x, labels = batch[0], batch[1] if len(batch) > 1 else None
    elif isinstance(batch, dict):
        x, labels = image_tensor(batch), batch.get("label", batch.get("labels"))
    else:
        x = batch
    if isinstance(x, list):  # a list of images
        x = torch.stack([_as_input(v, preprocessing) for v in x])
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor) or x.dim() == 0:
        raise InputError(f"{where} is a {type(x).__name__}; scan takes batches (N, C, H, W), (x, y) pairs or dicts.")
    x = x if x.is_floating_point() else x.to(torch.float32)
    if isinstance(labels, torch.Tensor) and labels.shape[:1] == x.shape[:1] and labels.dim() == 1:
        return x, [_label(v) for v in labels]
    return x, [None] * len(x)


class IterableBatches(StreamSource):
    """Any iterable of batches (a generator, a list of tensors, a ``DataLoader`` with its own collate)."""

    kind = "iterable"

    def __init__(self, iterable: Any, preprocessing: Any) -> None:
        self.iterable, self.preprocessing = iterable, preprocessing

    @property
    def fingerprint(self) -> str:
        kind = type(self.iterable)
        return f"{kind.__module__}.{kind.__qualname__}"

    def items(self, want: Callable[[int], bool]) -> Iterator[Item]:
        count = 0
        for number, batch in enumerate(self.iterable):
            x, labels = _rows(batch, self.preprocessing, f"Batch {number} of the data")
            for row, label in zip(x, labels):
                if want(count):
                    yield count, row, None, label
                count += 1
        self.size = count


def _default_collate(loader: DataLoader) -> bool:
    return getattr(loader, "collate_fn", None) in (default_collate, None) or getattr(
        loader.collate_fn, "__name__", "") == "default_collate"


def resolve_source(data: Any, preprocessing: Any, *, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> Source:
    """The :class:`Source` for ``data``: a folder, a list file, a video, image paths and globs, a tensor,
    a ``Dataset`` or ``DataLoader``, or any iterable of batches (see :mod:`.sources`)."""
    if isinstance(data, Source):
        return data
    if isinstance(data, (str, os.PathLike)) or (isinstance(data, (list, tuple)) and data
                                                and all(isinstance(d, (str, os.PathLike)) for d in data)):
        items = [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else [os.fspath(d) for d in data]
        if len(items) == 1 and is_video(items[0]):
            if not os.path.isfile(items[0]):
                raise ImageError(f"{items[0]}: no such video file. Check the path (relative paths are from {os.getcwd()}).")
            return VideoFrames(items[0], preprocessing)
        return ImageFiles(list_files(items), preprocessing, max_pixels)
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return TensorRows(data)
    if isinstance(data, DataLoader):
        dataset = data.dataset
        if not isinstance(dataset, IterableDataset) and _default_collate(data):
            return DatasetItems(dataset, preprocessing)
        return IterableBatches(data, preprocessing)
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset) and hasattr(data, "__len__"):
        return DatasetItems(data, preprocessing)
    if isinstance(data, IterableDataset):
        return IterableBatches(DataLoader(data, batch_size=32), preprocessing)
    if hasattr(data, "__iter__") and not isinstance(data, (str, bytes, dict)):
        return IterableBatches(data, preprocessing)
    raise InputError(
        f"Cannot scan a {type(data).__name__}: give an image folder (ImageFolder layout recognised), a .txt list of "
        "image paths, a video file, image files or globs, a tensor (N, C, H, W), a Dataset, a DataLoader, or an "
        "iterable of batches."
    )
