"""A comparison as files: ``compare.json`` (the index), ``heatmap.png``, ``matched/<NN>_<layer>.png``.

>>> import numpy as np, tempfile, pathlib
>>> from layerscope.comparison.result import Comparison
>>> c = Comparison({"spec": "a"}, {"spec": "b"}, 8, [], ["x"], ["x"], np.ones((1, 1)))
>>> out = pathlib.Path(tempfile.mkdtemp()) / "cmp"
>>> sorted(p.name for p in save_comparison(c, out).iterdir())
['compare.json', 'heatmap.png']
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.files import write_atomic
from ..errors import InputError
from ..render.png import save_png

if TYPE_CHECKING:
    from .result import Comparison

__all__ = ["save_comparison"]

INDEX, HEATMAP, MATCHED = "compare.json", "heatmap.png", "matched"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "layer"


def _claim(out: Path, overwrite: bool) -> None:
    """Make ``out`` ready: new, empty, or an earlier comparison's folder (then only with ``overwrite``)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out} exists and is not a folder; choose a folder path for the comparison.")
    entries = list(out.iterdir())
    if not entries:
        return
    if not (out / INDEX).is_file():
        raise InputError(f"{out} holds files that layerscope did not write (no {INDEX}); choose a new or empty folder.")
    if not overwrite:
        raise InputError(f"{out} holds an earlier comparison; pass overwrite=True (CLI: --overwrite) to replace it, "
                         "or choose another folder.")
    foreign = [e.name for e in entries if e.name not in (INDEX, HEATMAP, MATCHED)]
    if foreign:
        raise InputError(f"{out} holds an earlier comparison and other files ({', '.join(sorted(foreign)[:3])}); "
                         "layerscope replaces only its own folders: move them or choose another folder.")
    if (out / MATCHED).is_dir():
        shutil.rmtree(out / MATCHED)


def save_comparison(comparison: "Comparison", out: Path, *, overwrite: bool = False, max_channels: int = 16) -> Path:
    """Write the comparison's files under ``out`` (see :meth:`Comparison.save`); returns ``out``."""
    _claim(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(comparison.heatmap_png(), out / HEATMAP)
    for number, pair in enumerate(p for p in comparison.pairs if p.match is not None and p.match.probe_a is not None):
        view = pair.match.grids(max_channels)
        save_png(view.array, out / MATCHED / f"{number:02d}_{_safe(pair.name)}.png")
    write_atomic((comparison.to_json() + "\n").encode("utf-8"), out / INDEX)
    return out
