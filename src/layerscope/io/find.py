"""Load many images (files, directories, globs, PIL images), skipping or failing on bad ones.

Paths are expanded by :func:`~layerscope.io.listing.find_images` (re-exported here).

>>> import tempfile, os, PIL.Image
>>> folder = tempfile.mkdtemp()
>>> for name in ("b.png", "a.jpg", "notes.txt"):
...     PIL.Image.new("RGB", (2, 2)).save(os.path.join(folder, name), format="PNG")
>>> [os.path.basename(p) for p in find_images([folder])]
['a.jpg', 'b.png']
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Sequence, Union

from PIL import Image

from ..errors import ImageError
from .images import DEFAULT_MAX_PIXELS, WHITE, LoadedImage, as_loaded_image
from .listing import find_images

__all__ = ["find_images", "load_images", "require_loaded"]


def require_loaded(loaded: Sequence[Any], skipped: Sequence[tuple[str, str]]) -> None:
    """Raise :class:`~layerscope.errors.ImageError` naming the first files and reasons when nothing loaded.

    >>> require_loaded([], [("a.png", "not an image"), ("b.txt", "unsupported format")])
    Traceback (most recent call last):
    ...
    layerscope.errors.ImageError: None of the 2 images could be loaded (a.png: not an image; b.txt: unsupported format); pass readable image files (--max-pixels raises the size limit).
    """
    if loaded:
        return
    reasons = "; ".join(f"{path}: {reason}" for path, reason in list(skipped)[:5])
    more = f"; {len(skipped) - 5} more" if len(skipped) > 5 else ""
    raise ImageError(
        f"None of the {len(skipped)} images could be loaded ({reasons}{more}); pass readable image files "
        "(--max-pixels raises the size limit)."
    )


def load_images(
    inputs: Union[str, "os.PathLike[str]", Iterable[Any]],
    strict: bool = False,
    *,
    recursive: bool = False,
    background: tuple[int, int, int] = WHITE,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
) -> tuple[list[LoadedImage], list[tuple[str, str]]]:
    """Load every image the inputs name: ``(loaded, skipped)`` where skipped is ``[(path, reason)]``.

    Inputs are expanded by :func:`find_images` (a missing path or an empty
    pattern always raises); PIL images and uint8 arrays pass through. A file
    that fails to decode is skipped with its reason (without the path, which
    is beside it), or raises at once when ``strict=True``.

    >>> load_images([], strict=True)
    Traceback (most recent call last):
    ...
    layerscope.errors.ImageError: No images given; pass image files, directories or glob patterns.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike, Image.Image)) else list(inputs)
    if not items:
        raise ImageError("No images given; pass image files, directories or glob patterns.")
    expanded: list[Any] = []
    seen: set[str] = set()
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            fresh = [p for p in find_images([item], recursive=recursive) if p not in seen]
            seen.update(fresh)
            expanded.extend(fresh)
        else:
            expanded.append(item)
    loaded: list[LoadedImage] = []
    skipped: list[tuple[str, str]] = []
    for item in expanded:
        try:
            loaded.append(as_loaded_image(item, background=background, max_pixels=max_pixels))
        except ImageError as err:
            if strict:
                raise
            skipped.append((item if isinstance(item, str) else repr(item)[:80], getattr(err, "reason", str(err))))
    return loaded, skipped
