"""Data read in order: a video's frames, any iterable of batches.

>>> import torch
>>> source = IterableBatches([torch.zeros(3, 2), (torch.ones(2, 2), torch.tensor([7, 8]))], None)
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

from ..capturing.call import Args
from ..errors import ImageError, InputError
from .shard import Shard
from .sources import Batch, Source, _as_input, _collate, _label, _preprocessed, image_tensor
from .video import frame, frame_count, frames, video_fingerprint

__all__ = ["StreamSource", "VideoFrames", "IterableBatches"]

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
                yield count - 1, _preprocessed(image, self.preprocessing, "Video frames"), None, None
        self.size = count

    def load(self, index: int) -> torch.Tensor:
        return _preprocessed(frame(self.path, index), self.preprocessing, "Video frames")


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
