"""The one resolver of inputs: whatever a user passes, as the :class:`~layerscope.io.sources.Source` that reads it.

>>> import torch
>>> resolve_source(torch.zeros(4, 3, 8, 8)).kind, resolve_source([torch.zeros(2, 3, 8, 8)]).kind
('tensor', 'iterable')
>>> resolve_source(3)
Traceback (most recent call last):
...
layerscope.errors.InputError: Cannot read a int as inputs: give image files, folders (ImageFolder layout recognised), globs or a .txt list of paths, a video file, PIL images, a tensor or numpy array (N, C, H, W), a Dataset, a DataLoader, an iterable of batches, or layerscope.Args for one forward.

:class:`~layerscope.io.feed.Feed` (``capture``, ``show``, ``diagnose``, ``report``, ...) and the scan
both call :func:`resolve_source`, so every verb accepts the same kinds of input:

- a video file (:data:`~.video.VIDEO_EXTENSIONS`): :class:`~.streams.VideoFrames` (``video``), frame n is input n;
- image files, a folder, an ImageFolder tree, globs, a ``.txt`` list of paths: :class:`~.sources.ImageFiles`
  (``files``, ``folder``, ``imagefolder``, ``list``; see :mod:`.listing`);
- PIL images or :class:`~.images.LoadedImage` s (paths among them): :class:`~.sources.ImageItems` (``images``);
- a tensor or numpy array (N, ...): :class:`~.sources.TensorRows` (``tensor``);
- a map-style ``Dataset``, or a ``DataLoader`` over one with the default collate (``by_index``):
  :class:`~.sources.DatasetItems` (``dataset``), read by index;
- an ``IterableDataset``, any other iterable of batches (a list of tensors, a generator, a ``DataLoader``):
  :class:`~.streams.IterableBatches` (``iterable``), read in order;
- :class:`~layerscope.Args`, a tuple or a dict: :class:`Forward` (``forward``), the inputs of one forward.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset
from torch.utils.data._utils.collate import default_collate

from ..capturing.call import Args, batch_size_of
from ..errors import ImageError, InputError
from .images import DEFAULT_MAX_PIXELS
from .listing import list_files
from .shard import Shard
from .sources import Batch, DatasetItems, ImageFiles, ImageItems, Source, TensorRows, is_image_like
from .streams import IterableBatches, VideoFrames
from .video import is_video_path

__all__ = ["resolve_source", "Forward", "ITERABLE_BATCH"]

ITERABLE_BATCH = 32  # items per batch when an IterableDataset of single items is read


class Forward(Source):
    """:class:`~layerscope.Args`, a tuple (positional) or a dict (keywords): the inputs of one forward, as given."""

    kind = "forward"

    def __init__(self, inputs: Any) -> None:
        self.inputs = inputs
        self.size = batch_size_of(inputs) or 1

    @property
    def fingerprint(self) -> str:
        return f"forward:{self.size}"

    def batches(self, shard: Shard, start: int, batch_size: int, workers: int = 0) -> Iterator[Batch]:
        raise InputError(
            "layerscope.Args / a tuple / a dict are the inputs of one forward; this needs inputs it can index one by "
            "one: pass image batches (a tensor (N, C, H, W), a Dataset, a DataLoader or image files)."
        )


def _default_collate(loader: DataLoader) -> bool:
    return getattr(loader, "collate_fn", None) in (default_collate, None) or getattr(
        loader.collate_fn, "__name__", "") == "default_collate"


def _paths(data: Any) -> Optional[list[str]]:
    if isinstance(data, (str, os.PathLike)):
        return [os.fspath(data)]
    if isinstance(data, (list, tuple)) and data and all(isinstance(d, (str, os.PathLike)) for d in data):
        return [os.fspath(d) for d in data]
    return None


def resolve_source(
    data: Any,
    preprocessing: Any = None,
    *,
    recursive: bool = True,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    by_index: bool = True,
) -> Source:
    """The :class:`~layerscope.io.sources.Source` for ``data`` (see the module docstring for the kinds).

    ``recursive``: folders that are not ImageFolder trees are walked below their top level.
    ``by_index``: a ``DataLoader`` with the default collate is read through its dataset by index (a
    scan: shards and resumes need indices); False reads it in its own order and batches (Feed).
    Cheap: nothing is decoded, but paths are listed, so a missing file fails here.
    """
    if isinstance(data, Source):
        return data
    paths = _paths(data)
    if paths is not None:
        if len(paths) == 1 and is_video_path(paths[0]):
            if not os.path.isfile(paths[0]):
                raise ImageError(f"{paths[0]}: no such video file. Check the path (relative paths are from {os.getcwd()}).")
            return VideoFrames(paths[0], preprocessing)
        return ImageFiles(list_files(paths, recursive=recursive), preprocessing, max_pixels)
    if is_image_like(data) or (isinstance(data, list) and data and all(is_image_like(d) for d in data)):
        return ImageItems(data if isinstance(data, list) else [data], preprocessing, max_pixels)
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return TensorRows(data)
    if isinstance(data, (Args, dict, tuple)):
        return Forward(data)
    if isinstance(data, DataLoader):
        dataset = data.dataset
        if by_index and not isinstance(dataset, IterableDataset) and _default_collate(data):
            return DatasetItems(dataset, preprocessing)
        return IterableBatches(data, preprocessing)
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset) and hasattr(data, "__len__"):
        return DatasetItems(data, preprocessing)
    if isinstance(data, IterableDataset):
        return IterableBatches(DataLoader(data, batch_size=ITERABLE_BATCH), preprocessing)
    if hasattr(data, "__iter__") and not isinstance(data, (str, bytes)):
        return IterableBatches(data, preprocessing)
    raise InputError(
        f"Cannot read a {type(data).__name__} as inputs: give image files, folders (ImageFolder layout recognised), "
        "globs or a .txt list of paths, a video file, PIL images, a tensor or numpy array (N, C, H, W), a Dataset, "
        "a DataLoader, an iterable of batches, or layerscope.Args for one forward."
    )
