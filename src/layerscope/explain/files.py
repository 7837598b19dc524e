"""Write a :class:`~layerscope.explain.Visualization` to a folder: a PNG per channel, the row, an index.

>>> import tempfile, torch, torch.nn as nn
>>> from layerscope import Preprocessing
>>> from layerscope.explain import visualize
>>> result = visualize(nn.Conv2d(3, 2, 3), "", channels=[1], steps=2, preprocessing=Preprocessing(resize=16, crop=(16, 16)))
>>> [p.name for p in save_visualization(result, tempfile.mkdtemp() + "/viz")]
['channel-1.png', 'channels.png', 'index.json']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from ..core.files import write_atomic
from ..core.jsonio import jsonable
from ..errors import InputError
from ..render.png import encode_png

__all__ = ["save_visualization", "INDEX"]

INDEX = "index.json"
DISPLAY = 256  # pixels: small results are enlarged (nearest) to at least this size for display


def _enlarged(pixels: np.ndarray) -> np.ndarray:
    factor = max(1, DISPLAY // max(pixels.shape[:2]))
    return np.kron(pixels, np.ones((factor, factor, 1), np.uint8)) if factor > 1 else pixels


def save_visualization(result, out: Path, *, overwrite: bool = False, model: Optional[dict] = None) -> list[Path]:
    """Write ``channel-<C>.png`` per channel, ``channels.png`` (all side by side) and ``index.json``."""
    out = Path(out)
    names = [f"channel-{c}.png" for c in result.channels] + ["channels.png", INDEX]
    taken = [n for n in names if (out / n).exists()] if out.exists() else []
    if taken and not overwrite:
        raise InputError(f"{out} already holds {', '.join(taken[:3])} from an earlier run; pass --overwrite "
                         "(Python: overwrite=True) or choose another --out.")
    written = [write_atomic(encode_png(_enlarged(pixels)), out / name, overwrite=True)
               for name, pixels in zip(names, result.pixels)]
    written.append(write_atomic(encode_png(_enlarged(result.grid())), out / "channels.png", overwrite=True))
    index = {
        "layer": result.layer, "channels": result.channels, "objective": result.objective,
        "negative": result.negative, "seed": result.seed, "seconds": result.seconds,
        "steps": int(result.curves.shape[0]), "curves": result.curves.T.tolist(), "model": model,
        "preprocessing": result.preprocessing, "files": names[:-1],
    }
    written.append(write_atomic(json.dumps(jsonable(index, digits=6), indent=1).encode(), out / INDEX, overwrite=True))
    return written
