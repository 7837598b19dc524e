"""What the diagnosis reads from the modules themselves: the bounds an activation clamps to.

>>> from torch import nn
>>> activation_bounds(nn.Sigmoid()), activation_bounds(nn.ReLU())
((0.0, 1.0), None)

The measurements of the maps (noise score, spatial variance, peaks, effective rank) are in
:mod:`layerscope.stats.maps`.
"""

from __future__ import annotations

from typing import Optional

from torch import nn

__all__ = ["activation_bounds"]

_BOUNDS: dict[str, tuple[Optional[float], float]] = {
    "Hardsigmoid": (None, 1.0),
    "Sigmoid": (0.0, 1.0),
    "Tanh": (-1.0, 1.0),
    "Softsign": (-1.0, 1.0),
}


def activation_bounds(module: Optional[nn.Module]) -> Optional[tuple[Optional[float], float]]:
    """The (lower, upper) bounds an activation module clamps to, else None.

    A hard lower bound of 0 (ReLU6, Hardsigmoid) is given as None: sitting there is
    being inactive (see dead), not saturated. Sigmoid / Tanh bounds are approached,
    so values within the tolerance count as on the bound.

    >>> activation_bounds(nn.Hardtanh(-2, 2)), activation_bounds(nn.ReLU6()), activation_bounds(nn.Conv2d(1, 1, 1))
    ((-2.0, 2.0), (None, 6.0), None)
    """
    if module is None:
        return None
    if isinstance(module, nn.Hardtanh):  # ReLU6 is a Hardtanh(0, 6)
        low = float(module.min_val)
        return (None if low == 0 else low), float(module.max_val)
    return _BOUNDS.get(type(module).__name__)
