"""Inputs as sources: any dataset as inputs with global indices, batched by shard position.

>>> import torch
>>> source = TensorRows(torch.arange(10.0).reshape(5, 2))
>>> [b.index.tolist() for b in source.batches(Shard(1, 2), start=0, batch_size=2)]
[[1, 3]]

Every verb reads its inputs through a :class:`Source` that
:func:`~layerscope.io.inputs.resolve_source` picks (:class:`~layerscope.io.feed.Feed` and the scan alike).
The global index of an input is its place in the dataset: the sorted file listing (see
:mod:`.listing`), a video's frame number, a ``Dataset``'s index, a tensor's row, the running count
of an iterable. Shard ``i/N`` takes the indices ``i, i+N, ...``; its batch ``b`` is its positions
``b*B .. b*B+B-1``, whatever failed to load, so batches never depend on what was read before.

Indexed data (files, a map-style ``Dataset``, a ``DataLoader`` over one with the default collate,
a tensor) is read by index through a ``DataLoader`` with ``workers`` processes. Streams (a video,
any other iterable of batches) are read in order; a shard reads them whole and keeps its inputs.
Unreadable images are skipped and reported with their index and reason. Streams are in
:mod:`.streams`; :func:`~layerscope.io.inputs.resolve_source`, which picks the reader, in :mod:`.inputs`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..capturing.call import Args
from ..errors import ImageError, InputError
from .images import DEFAULT_MAX_PIXELS, LoadedImage, as_loaded_image, load_image
from .listing import FileListing
from .shard import Shard

__all__ = ["Batch", "Source", "IndexedSource", "ImageFiles", "ImageItems", "DatasetItems", "TensorRows",
           "image_tensor", "is_image_like"]

_IMAGE_KEYS = ("pixel_values", "image", "images", "input", "x")


def is_image_like(value: Any) -> bool:
    """A path, a PIL image or a :class:`LoadedImage` (what the image loader takes)."""
    return isinstance(value, (str, os.PathLike, LoadedImage, Image.Image))


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


def _preprocessed(image: Any, preprocessing: Any, what: str) -> torch.Tensor:
    if preprocessing is None:
        raise InputError(f"{what} need the model's preprocessing: pass a model spec ('builtin:digits', "
                         "'torchvision:resnet18'), a LoadedModel, or preprocessing=Preprocessing(...); or pass a tensor.")
    return preprocessing(image)


@dataclass
class Batch:
    """One batch of a shard: the loaded inputs' global ``index`` (n,), ``inputs`` (n, ...) (None when none
    loaded), their ``labels``, the ``skipped`` (index, reason) pairs and the shard ``positions`` it covers."""

    index: torch.Tensor
    inputs: Optional[torch.Tensor]
    labels: list
    skipped: list
    positions: int


def _as_input(value: Any, preprocessing: Any) -> torch.Tensor:
    """One dataset item's input as a tensor: images go through ``preprocessing``, tensors stay as they are."""
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim in (2, 3):
        value = Image.fromarray(value)
    if isinstance(value, LoadedImage):
        value = value.image
    if isinstance(value, Image.Image):
        return _preprocessed(value, preprocessing, "The dataset's images")
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise InputError(
            f"A dataset item is a {type(value).__name__}; scan takes items that are images (PIL, uint8 arrays), "
            "tensors, (input, label) pairs or dicts with an image entry."
        )
    return value if value.is_floating_point() else value.to(torch.float32)


def _label(value: Any) -> Optional[int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point():
        return int(value)
    return None


def _split_item(item: Any) -> tuple[Any, Optional[int]]:
    """(input, label) of a dataset item: ``(x, y, ...)`` pairs, dicts with an image entry, or the input itself."""
    if isinstance(item, (tuple, list)) and item:
        return item[0], _label(item[1]) if len(item) > 1 else None
    if isinstance(item, dict):
        image = image_tensor(item)
        if image is None:
            image = next((v for v in item.values() if isinstance(v, (Image.Image, np.ndarray))), None)
        return image, _label(item.get("label", item.get("labels")))
    return item, None


def _collate(items: list) -> Batch:
    """Stack the loaded items of one batch; items are (index, tensor or None, reason, label)."""
    good = [(i, t, label) for i, t, _, label in items if t is not None]
    skipped = [(i, reason) for i, t, reason, _ in items if t is None]
    inputs = None
    if good:
        shapes = {tuple(t.shape) for _, t, _ in good}
        if len(shapes) > 1:
            raise InputError(
                f"The inputs of one batch have different shapes after preprocessing ({', '.join(map(str, sorted(shapes)))}); "
                "a scan needs one input size: set it (--size N / preprocessing with a crop)."
            )
        inputs = torch.stack([t for _, t, _ in good])
    index = torch.tensor([i for i, _, _ in good], dtype=torch.int64)
    return Batch(index, inputs, [label for _, _, label in good], skipped, len(items))


class Source:
    """A dataset as inputs with global indices; see the module docstring."""

    kind = "source"
    size: Optional[int] = None
    root: Optional[str] = None
    classes: Optional[list] = None

    @property
    def fingerprint(self) -> str:
        raise NotImplementedError

    def describe(self) -> dict:
        """JSON metadata: kind, root, size, classes, fingerprint."""
        return {"kind": self.kind, "root": self.root, "size": self.size, "classes": self.classes,
                "fingerprint": self.fingerprint}

    def source_of(self, index: int) -> str:
        """What input ``index`` is, for people (a path, ``video.mp4#frame=12``, ``dataset[12]``)."""
        return f"{self.kind}[{index}]"

    def load(self, index: int) -> torch.Tensor:
        """Input ``index`` alone, as the model saw it (for crops)."""
        raise NotImplementedError

    def batches(self, shard: Shard, start: int, batch_size: int, workers: int = 0) -> Iterator[Batch]:
        raise NotImplementedError

    def shard_size(self, shard: Shard) -> Optional[int]:
        return None if self.size is None else len(shard.positions(self.size))


class _Items(Dataset):
    def __init__(self, source: "IndexedSource") -> None:
        self.source = source

    def __len__(self) -> int:
        return int(self.source.size)

    def __getitem__(self, index: int) -> tuple:
        return (index, *self.source.item(index))


class IndexedSource(Source):
    """Random access by index: ``item(i)`` gives (tensor or None, reason, label)."""

    def item(self, index: int) -> tuple[Optional[torch.Tensor], Optional[str], Optional[int]]:
        raise NotImplementedError

    def load(self, index: int) -> torch.Tensor:
        tensor, reason, _ = self.item(index)
        if tensor is None:
            raise ImageError(f"{self.source_of(index)}: {reason}")
        return tensor

    def batches(self, shard: Shard, start: int, batch_size: int, workers: int = 0) -> Iterator[Batch]:
        positions = shard.positions(int(self.size))
        chunks = [list(positions[b : b + batch_size]) for b in range(start * batch_size, len(positions), batch_size)]
        if not chunks:
            return iter(())
        loader = DataLoader(_Items(self), batch_sampler=chunks, num_workers=workers, collate_fn=_collate)
        return iter(loader)


class ImageFiles(IndexedSource):
    """Image files listed by :func:`~layerscope.io.listing.list_files`, loaded and preprocessed one by one."""

    def __init__(self, listing: FileListing, preprocessing: Any, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS):
        self.listing, self.preprocessing, self.max_pixels = listing, preprocessing, max_pixels
        self.kind, self.root, self.size, self.classes = listing.kind, listing.root, len(listing.paths), listing.classes

    @property
    def fingerprint(self) -> str:
        return self.listing.fingerprint

    def source_of(self, index: int) -> str:
        return self.listing.path(index)

    def item(self, index: int) -> tuple:
        label = self.listing.labels[index] if self.listing.labels else None
        try:
            image = load_image(self.source_of(index), max_pixels=self.max_pixels)
        except ImageError as err:
            return None, getattr(err, "reason", str(err)), label
        return _preprocessed(image.image, self.preprocessing, "Image files"), None, label


class ImageItems(IndexedSource):
    """Images given in Python (PIL images, :class:`LoadedImage` s, image paths among them), one by one."""

    kind = "images"

    def __init__(self, items: list, preprocessing: Any, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> None:
        self.items, self.preprocessing, self.max_pixels = list(items), preprocessing, max_pixels
        self.size = len(self.items)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for item in self.items:
            digest.update(self._name(item).encode("utf-8", "surrogateescape") + b"\n")
        return digest.hexdigest()[:32]

    @staticmethod
    def _name(item: Any) -> str:
        if isinstance(item, (str, os.PathLike)):
            return os.fspath(item)
        if isinstance(item, LoadedImage):
            return item.path
        return f"{type(item).__name__}{getattr(item, 'size', '')}"

    def source_of(self, index: int) -> str:
        item = self.items[index]
        return self._name(item) if isinstance(item, (str, os.PathLike, LoadedImage)) else f"images[{index}]"

    def item(self, index: int) -> tuple:
        try:
            image = as_loaded_image(self.items[index], max_pixels=self.max_pixels)
        except ImageError as err:
            return None, getattr(err, "reason", str(err)), None
        return _preprocessed(image.image, self.preprocessing, "Images"), None, None


class DatasetItems(IndexedSource):
    """A map-style ``Dataset``: items are inputs, ``(input, label, ...)`` or dicts; images are preprocessed."""

    kind = "dataset"

    def __init__(self, dataset: Any, preprocessing: Any) -> None:
        self.dataset, self.preprocessing = dataset, preprocessing
        self.size = len(dataset)
        classes = getattr(dataset, "classes", None)
        self.classes = [str(c) for c in classes] if isinstance(classes, (list, tuple)) else None

    @property
    def fingerprint(self) -> str:
        kind = type(self.dataset)
        return f"{kind.__module__}.{kind.__qualname__}:{self.size}"

    def item(self, index: int) -> tuple:
        try:
            value, label = _split_item(self.dataset[index])
        except (ImageError, OSError) as err:  # an unreadable file behind the dataset (PIL raises OSError)
            return None, f"{type(err).__name__}: {err}", None
        return _as_input(value, self.preprocessing), None, label


class TensorRows(IndexedSource):
    """The rows of a tensor (N, ...)."""

    kind = "tensor"

    def __init__(self, tensor: Any) -> None:
        self.tensor = torch.as_tensor(tensor)
        self.size = len(self.tensor)

    @property
    def fingerprint(self) -> str:
        data = self.tensor.detach().cpu().contiguous()
        return hashlib.sha256(str(tuple(data.shape)).encode() + data.view(torch.uint8).numpy().tobytes()).hexdigest()[:32]

    def item(self, index: int) -> tuple:
        return _as_input(self.tensor[index], None), None, None

    def batches(self, shard: Shard, start: int, batch_size: int, workers: int = 0) -> Iterator[Batch]:
        positions = torch.arange(shard.index, self.size, shard.count)
        for chunk in positions[start * batch_size :].split(batch_size):
            rows = self.tensor[chunk]
            yield Batch(chunk, rows if rows.is_floating_point() else rows.float(), [None] * len(chunk), [], len(chunk))
