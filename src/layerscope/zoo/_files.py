"""Atomic, non-clobbering file writes and checksums for the zoo's artefacts."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ..errors import InputError


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes.

    >>> len(sha256_file(__file__))
    64
    """
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def refuse_existing(paths: list[Path], overwrite: bool, flag: str) -> None:
    """Raise :class:`InputError` if any path exists and ``overwrite`` is false (checked before writing)."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise InputError(
            f"refusing to overwrite existing file(s): {', '.join(existing)}; "
            f"choose another directory or pass {flag}"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, then ``os.replace`` it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
