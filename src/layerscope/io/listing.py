"""Image files named by paths, in a fixed order: files, folders (the ImageFolder class layout recognised),
globs, and text files listing paths. One lister for every verb (:class:`~layerscope.io.feed.Feed` and the scan).

>>> import tempfile, os, PIL.Image
>>> root = tempfile.mkdtemp()
>>> for name in ("cat/b.png", "cat/a.png", "dog/x/c.png"):
...     os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
...     PIL.Image.new("RGB", (2, 2)).save(os.path.join(root, name))
>>> listing = list_files([root])
>>> listing.kind, listing.classes, listing.paths, listing.labels
('imagefolder', ['cat', 'dog'], ['cat/a.png', 'cat/b.png', 'dog/x/c.png'], [0, 0, 1])
>>> [os.path.relpath(p, root) for p in find_images([root])] == listing.paths
True

A folder whose top level holds no image but whose subfolders do is an ImageFolder: the classes
are the subfolders, sorted, and each image's label is its class's position, as torchvision's
``ImageFolder`` numbers them (and in its order). Any other folder gives its top-level images, or
with ``recursive`` every image below it (sorted directory walk). A sole ``.txt`` / ``.lst`` file
is a list of paths, one a line, relative to the list's folder. :func:`find_images` gives the paths
(as the user spelled them); :func:`list_files` a :class:`FileListing` with paths relative to a root
and a fingerprint, whose order is what the global input indices of a scan refer to.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

from ..errors import ImageError, InputError
from .images import IMAGE_EXTENSIONS

__all__ = ["FileListing", "list_files", "find_images", "is_list_file", "LIST_EXTENSIONS"]

LIST_EXTENSIONS = (".txt", ".lst")
_GLOB_CHARS = set("*?[")


@dataclass
class FileListing:
    """``paths`` relative to ``root``, with ``labels`` (class positions) when ``classes`` were found."""

    kind: str
    root: str
    paths: list[str]
    classes: Optional[list[str]] = None
    labels: Optional[list[int]] = None
    origin: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """A hash of the ordered relative paths (and classes): equal listings give equal indices."""
        digest = hashlib.sha256("\n".join(self.classes or []).encode() + b"\0")
        for path in self.paths:
            digest.update(path.encode("utf-8", "surrogateescape") + b"\n")
        return digest.hexdigest()[:32]

    def path(self, index: int) -> str:
        """The full path of input ``index``."""
        return os.path.join(self.root, self.paths[index])


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_list_file(path: Any) -> bool:
    """Whether ``path`` is an existing ``.txt`` / ``.lst`` file (read as a list of image paths when given alone)."""
    return isinstance(path, (str, os.PathLike)) and os.path.isfile(path) and \
        os.fspath(path).lower().endswith(LIST_EXTENSIONS)


def _walk(folder: str) -> list[str]:
    """Every image under ``folder`` in sorted walk order (torchvision's ImageFolder order)."""
    found = []
    for here, _, names in sorted(os.walk(folder, followlinks=True)):
        found.extend(os.path.join(here, name) for name in sorted(names) if _is_image(name))
    return found


def _top(folder: str) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(os.path.join(folder, e.name) for e in entries if e.is_file() and _is_image(e.name))


def _classes(folder: str) -> Optional[tuple[list[str], list[list[str]]]]:
    """``(classes, images per class)`` when ``folder`` has the ImageFolder layout, else None."""
    with os.scandir(folder) as entries:
        items = sorted(entries, key=lambda e: e.name)
    if any(e.is_file() and _is_image(e.name) for e in items):
        return None
    subdirs = [e.name for e in items if e.is_dir()]
    per_class = [_walk(os.path.join(folder, name)) for name in subdirs]
    return (subdirs, per_class) if any(per_class) else None


def _no_images(folder: str, recursive: bool) -> ImageError:
    hint = "" if recursive else " (subfolders are not searched; use recursive=True / --recursive)"
    where = "searched recursively for" if recursive else "extensions"
    return ImageError(f"Directory {folder} holds no image files ({where} {', '.join(IMAGE_EXTENSIONS)}){hint}.")


def _folder_paths(folder: str, recursive: bool) -> list[str]:
    tree = _classes(folder)
    if tree is not None:
        return [path for files in tree[1] for path in files]
    found = _walk(folder) if recursive else _top(folder)
    if not found:
        raise _no_images(folder, recursive)
    return found


def _expand_one(item: str, recursive: bool) -> list[str]:
    if os.path.isfile(item):
        return [item]  # named explicitly: the image loader judges its content
    if os.path.isdir(item):
        return _folder_paths(item, recursive)
    if _GLOB_CHARS & set(item):
        matched = sorted(glob.glob(item, recursive=recursive))
        found = [p for p in matched if os.path.isfile(p) and _is_image(p)]
        if not found:
            what = f"{len(matched)} paths, none an image file" if matched else "nothing"
            raise ImageError(f"Pattern {item!r} matched {what}; check the pattern (image extensions: "
                             f"{', '.join(IMAGE_EXTENSIONS)}).")
        return found
    raise ImageError(f"{item}: no such file or directory. Check the path (relative paths are from {os.getcwd()}).")


def find_images(inputs: Union[str, "os.PathLike[str]", Sequence[Any]], *, recursive: bool = False) -> list[str]:
    """Image file paths from files, folders (sorted; an ImageFolder tree in class order; other subfolders
    only with ``recursive``) and globs.

    A pattern or folder that yields no image, or a missing path, raises
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


def _folder(folder: str, recursive: bool) -> FileListing:
    root = os.path.abspath(folder)
    tree = _classes(root)
    if tree is not None:
        classes, per_class = tree
        paths = [os.path.relpath(p, root) for files in per_class for p in files]
        labels = [label for label, files in enumerate(per_class) for _ in files]
        return FileListing("imagefolder", root, paths, classes, labels, [folder])
    found = _walk(root) if recursive else _top(root)
    if not found:
        raise _no_images(folder, recursive)
    return FileListing("folder", root, [os.path.relpath(p, root) for p in found], origin=[folder])


def _list_file(path: str) -> FileListing:
    root = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"Cannot read the list of images {path}: {err}. Give a UTF-8 text file with one path a line.") from None
    paths = [os.path.normpath(line) for line in lines if line and not line.startswith("#")]
    if not paths:
        raise InputError(f"The list {path} names no image; write one path a line (relative to the list's folder).")
    return FileListing("list", root, paths, origin=[path])


def list_files(data: Union[str, "os.PathLike[str]", Sequence[Any]], *, recursive: bool = True) -> FileListing:
    """The listing of ``data``: one folder, one ``.txt`` / ``.lst`` list of paths (relative to its folder),
    or image files, folders and globs (in the order given); folders are walked when ``recursive``."""
    items = [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else [os.fspath(d) for d in data]
    if len(items) == 1 and os.path.isdir(items[0]):
        return _folder(items[0], recursive)
    if len(items) == 1 and is_list_file(items[0]):
        return _list_file(items[0])
    found = [os.path.abspath(p) for p in find_images(items, recursive=recursive)]
    root = os.path.commonpath([os.path.dirname(p) for p in found])
    return FileListing("files", root, [os.path.relpath(p, root) for p in found], origin=items)
