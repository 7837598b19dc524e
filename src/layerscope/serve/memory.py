"""The explorer's byte accounting: what a kept picture or analysis weighs, and handing freed memory back.

>>> from PIL import Image
>>> picture_bytes(Image.new("RGB", (100, 20))), tensor_bytes(torch.zeros(3))
(6000, 12)
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["picture_bytes", "tensor_bytes", "release_freed_memory"]


def _libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:  # not a C library this process can load (Windows, musl without it): nothing to do
        return None


_LIBC = _libc()


def release_freed_memory() -> None:
    """Give the memory freed after a large decode back to the system: glibc keeps it in the process otherwise
    (a video of sixteen 3000x3000 frames left 110 MB resident although the explorer kept 3 MB); elsewhere,
    nothing."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def picture_bytes(image: Any) -> int:
    """Bytes of a PIL image's pixels.

    >>> from PIL import Image
    >>> picture_bytes(Image.new("RGB", (100, 20))), picture_bytes(Image.new("L", (100, 20)))
    (6000, 2000)
    """
    return image.width * image.height * len(image.getbands())


def tensor_bytes(value: Any) -> int:
    """Bytes of the tensors in ``value`` (a tensor, or a mapping / sequence holding tensors).

    >>> tensor_bytes({"a": torch.zeros(10), "b": (torch.zeros(2, dtype=torch.uint8), "text")})
    42
    """
    if isinstance(value, torch.Tensor):
        return value.nelement() * value.element_size()
    if isinstance(value, Mapping):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0
