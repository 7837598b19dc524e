"""Colormaps as 256-entry palettes: 252 colour levels sampled from matplotlib plus 4 reserved colours.

Every grid layerscope renders is an image of palette indices: ``0..251`` are the
colormap's levels (low to high), then four fixed colours that no colormap uses:

- ``NONFINITE`` (252): magenta (255, 0, 255), marks NaN / +Inf / -Inf values in a map;
- ``BACKGROUND`` (253): white, the padding between tiles and the strips' ground;
- ``TEXT`` (254): black, channel labels, caption and colorbar labels;
- ``FRAME`` (255): grey (150, 150, 150), the colorbar's outline.

>>> palette("viridis").shape, palette("viridis")[NONFINITE].tolist()
((256, 3), [255, 0, 255])
>>> resolve_cmap(None, signed=True)
'RdBu_r'
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

import numpy as np

from ..errors import InputError, did_you_mean

__all__ = [
    "LEVELS",
    "NONFINITE",
    "BACKGROUND",
    "TEXT",
    "FRAME",
    "MARKER_RGB",
    "DEFAULT_CMAP",
    "DIVERGING_CMAP",
    "palette",
    "resolve_cmap",
]

LEVELS = 252
NONFINITE, BACKGROUND, TEXT, FRAME = 252, 253, 254, 255
MARKER_RGB = (255, 0, 255)
_RESERVED = np.array([MARKER_RGB, (255, 255, 255), (0, 0, 0), (150, 150, 150)], dtype=np.uint8)

DEFAULT_CMAP = "viridis"
DIVERGING_CMAP = "RdBu_r"


def resolve_cmap(name: Optional[str], *, signed: bool = False) -> str:
    """The colormap name to use: ``name`` checked against matplotlib, or the default for the mode.

    >>> resolve_cmap("gray")
    'gray'
    """
    if name is None:
        return DIVERGING_CMAP if signed else DEFAULT_CMAP
    if not isinstance(name, str):
        raise InputError(f"cmap must be a matplotlib colormap name (a str), got {type(name).__name__}.")
    import matplotlib

    known = list(matplotlib.colormaps)
    if name not in known:
        raise InputError(
            f"Unknown colormap {name!r}.{did_you_mean(name, known)} Use any name from matplotlib.colormaps, "
            f"e.g. 'viridis', 'gray', 'magma' or (for signed maps) 'RdBu_r'."
        )
    return name


@lru_cache(maxsize=64)
def palette(name: str = DEFAULT_CMAP) -> np.ndarray:
    """The read-only ``(256, 3)`` uint8 palette of colormap ``name`` (levels + reserved colours); cached."""
    import matplotlib

    cmap = matplotlib.colormaps[resolve_cmap(name)]
    rgba = cmap(np.linspace(0.0, 1.0, LEVELS))
    levels = np.clip(np.rint(rgba[:, :3] * 255.0), 0, 255).astype(np.uint8)
    table = np.concatenate([levels, _RESERVED], axis=0)
    table.setflags(write=False)
    return table
