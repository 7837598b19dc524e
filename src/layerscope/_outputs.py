"""Output folders layerscope may write again: its own earlier output, recognised by its index file, never other files.

>>> import json, tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> _ = (out / "a").mkdir(), (out / "a" / "x.png").write_bytes(b"png"), (out / "mine.txt").write_text("keep")
>>> _ = (out / "index.json").write_text(json.dumps({"layerscope_version": "0", "files": ["a/x.png"]}))
>>> sorted(previous_files(out, "index.json"))
['a/x.png', 'index.json']
>>> clear_previous(out, previous_files(out, "index.json")); sorted(p.name for p in out.rglob("*"))
['mine.txt']
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Iterable

from .errors import InputError

__all__ = ["previous_files", "clear_previous", "refuse_taken"]

MARK = "layerscope_version"  # a key every index layerscope writes has


def previous_files(out: Path, index_name: str) -> set[str]:
    """The files (relative POSIX paths) a layerscope index in ``out`` lists, plus the index; empty if none.

    An index is layerscope's when it is a JSON object with ``layerscope_version``; it lists its files
    under ``files`` (a list of relative paths inside ``out``). Paths leaving ``out`` are ignored.
    """
    index = out / index_name
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(data, dict) or MARK not in data:
        return set()
    listed = data.get("files", [])
    inside = {str(PurePosixPath(p)) for p in listed if isinstance(p, str) and not PurePosixPath(p).is_absolute()
              and ".." not in PurePosixPath(p).parts}
    return inside | {index_name}


def clear_previous(out: Path, files: Iterable[str]) -> None:
    """Delete ``files`` (from :func:`previous_files`) under ``out``, the index first, then empty folders they leave."""
    files = sorted(files, key=lambda p: (not p.endswith(".json") or "/" in p, p))
    folders = set()
    for name in files:
        path = out / name
        if path.is_file() or path.is_symlink():
            path.unlink()
        folders.update(p for p in path.parents if out in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def refuse_taken(out: Path, wanted: Iterable[str], owned: set[str], flag: str) -> None:
    """Raise InputError when a path to be written exists in ``out`` and is not layerscope's own earlier output."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out} exists and is not a directory; choose a directory path for the output.")
    taken = [name for name in wanted if name not in owned and (out / name).exists()]
    if taken:
        raise InputError(
            f"{out} already holds {', '.join(taken[:3])}{' ...' if len(taken) > 3 else ''}, which layerscope did not "
            f"write there (it replaces only the files its own index lists); pass {flag} to replace them anyway, "
            f"or choose a fresh output directory."
        )
