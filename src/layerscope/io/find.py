"""Expand image inputs (files, directories, globs) and load many images, skipping or failing on bad ones.

>>> import tempfile, os, PIL.Image
>>> folder = tempfile.mkdtemp()
>>> for name in ("b.png", "a.jpg", "notes.txt"):
...     PIL.Image.new("RGB", (2, 2)).save(os.path.join(folder, name), format="PNG")
>>> [os.path.basename(p) for p in find_images([folder])]
['a.jpg', 'b.png']
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from PIL import Image

from ..errors import ImageError
from .images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, WHITE, LoadedImage, as_loaded_image

__all__ = ["find_images", "load_images", "require_loaded"]

_GLOB_CHARS = set("*?[")


def _is_image_name(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def _expand_one(item: str, recursive: bool) -> list[str]:
    exts = ", ".join(IMAGE_EXTENSIONS)
    if os.path.isfile(item):
        return [item]  # named explicitly: load_image will judge its content
    if os.path.isdir(item):
        walker = Path(item).rglob("*") if recursive else Path(item).iterdir()
        found = sorted(str(p) for p in walker if p.is_file() and _is_image_name(p.name))
        if not found:
            hint = "" if recursive else " (subfolders are not searched; use recursive=True / --recursive)"
            raise ImageError(f"Directory {item} holds no image files with extensions {exts}{hint}.")
        return found
    if _GLOB_CHARS & set(item):
        matched = sorted(glob.glob(item, recursive=recursive))
        found = [p for p in matched if os.path.isfile(p) and _is_image_name(p)]
        if not found:
            what = f"{len(matched)} paths, none an image file" if matched else "nothing"
            raise ImageError(f"Pattern {item!r} matched {what}; check the pattern (image extensions: {exts}).")
        return found
    raise ImageError(f"{item}: no such file or directory. Check the path (relative paths are from {os.getcwd()}).")


def find_images(inputs: Union[str, "os.PathLike[str]", Sequence[Any]], *, recursive: bool = False) -> list[str]:
    """Image file paths from files, directories (sorted; subfolders only with ``recursive``) and globs.

    A pattern or directory that yields no image, or a missing path, raises
    :class:`~layerscope.errors.ImageError`. Duplicates are dropped, order kept.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not items:
        raise ImageError("No images given; pass image files, directories or glob patterns.")
    seen: dict[str, None] = {}
    for item in items:
        for path in _expand_one(os.fspath(item), recursive):
            seen.setdefault(path, None)
    return list(seen)


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
