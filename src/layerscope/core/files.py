"""Atomic file writes: a temp file beside the target, then a rename, so nothing is left half-written.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> write_atomic(b"hello", target).read_bytes()
b'hello'
>>> write_atomic(b"again", target, overwrite=False)
Traceback (most recent call last):
...
layerscope.errors.InputError: ... already exists; pass overwrite=True (CLI: --overwrite) or choose another path.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

from ..errors import InputError

__all__ = ["write_atomic"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's own temp files are 0600


def write_atomic(data: Union[bytes, list[bytes]], path: Union[str, Path], *, overwrite: bool = True) -> Path:
    """Write ``data`` (bytes, or a list of pieces) to a temp file beside ``path``, then move it in place.

    With ``overwrite=False`` an existing ``path`` is never replaced (InputError), even in a race.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite and path.exists():
        raise _exists(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.writelines([data] if isinstance(data, bytes) else data)
        os.chmod(tmp, _FILE_MODE)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path appeared meanwhile: no silent overwrite
            except FileExistsError:
                raise _exists(path) from None
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _exists(path: Path) -> InputError:
    return InputError(f"{path} already exists; pass overwrite=True (CLI: --overwrite) or choose another path.")
