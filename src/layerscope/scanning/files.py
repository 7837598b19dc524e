"""The image files of a dataset on disk, in a fixed order: a folder (the ImageFolder class layout
recognised), a text file listing paths, or image files and globs.

>>> import tempfile, os, PIL.Image
>>> root = tempfile.mkdtemp()
>>> for name in ("cat/b.png", "cat/a.png", "dog/x/c.png"):
...     os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
...     PIL.Image.new("RGB", (2, 2)).save(os.path.join(root, name))
>>> listing = list_files([root])
>>> listing.kind, listing.classes, listing.paths, listing.labels
('imagefolder', ['cat', 'dog'], ['cat/a.png', 'cat/b.png', 'dog/x/c.png'], [0, 0, 1])

A folder whose top level holds no image but whose subfolders do is an ImageFolder: the classes
are the subfolders, sorted, and each image's label is its class's position, as torchvision's
``ImageFolder`` numbers them; any other folder is listed recursively. Paths are kept relative
to ``root``; the order (sorted directory walk) is what global input indices refer to.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

from ..errors import ImageError, InputError
from ..io.find import find_images
from ..io.images import IMAGE_EXTENSIONS

__all__ = ["FileListing", "list_files", "LIST_EXTENSIONS"]

LIST_EXTENSIONS = (".txt", ".lst")


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


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _walk(folder: str) -> list[str]:
    """Every image under ``folder`` in sorted walk order (torchvision's ImageFolder order), as absolute paths."""
    found = []
    for here, _, names in sorted(os.walk(folder, followlinks=True)):
        found.extend(os.path.join(here, name) for name in sorted(names) if _is_image(name))
    return found


def _folder(folder: str) -> FileListing:
    root = os.path.abspath(folder)
    with os.scandir(root) as entries:
        items = sorted(entries, key=lambda e: e.name)
    top_images = [e for e in items if e.is_file() and _is_image(e.name)]
    subdirs = [e.name for e in items if e.is_dir()]
    if not top_images and subdirs:
        per_class = [_walk(os.path.join(root, name)) for name in subdirs]
        if any(per_class):
            paths = [os.path.relpath(p, root) for files in per_class for p in files]
            labels = [label for label, files in enumerate(per_class) for _ in files]
            return FileListing("imagefolder", root, paths, subdirs, labels, [folder])
    paths = [os.path.relpath(p, root) for p in _walk(root)]
    if not paths:
        raise ImageError(f"Folder {folder} holds no image files (searched recursively for {', '.join(IMAGE_EXTENSIONS)}).")
    return FileListing("folder", root, paths, origin=[folder])


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


def list_files(data: Sequence[str]) -> FileListing:
    """The listing of ``data``: one folder, one ``.txt`` / ``.lst`` list of paths (relative to its folder),
    or image files, folders and globs (expanded recursively, in the order given)."""
    items = [os.fspath(d) for d in data]
    if len(items) == 1 and os.path.isdir(items[0]):
        return _folder(items[0])
    if len(items) == 1 and os.path.isfile(items[0]) and items[0].lower().endswith(LIST_EXTENSIONS):
        return _list_file(items[0])
    found = [os.path.abspath(p) for p in find_images(items, recursive=True)]
    root = os.path.commonpath([os.path.dirname(p) for p in found])
    return FileListing("files", root, [os.path.relpath(p, root) for p in found], origin=items)
