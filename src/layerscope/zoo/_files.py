"""Non-clobbering checks and checksums for the zoo's artefacts (writes go through ``layerscope.core.files``)."""

from __future__ import annotations

import hashlib
import os
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
