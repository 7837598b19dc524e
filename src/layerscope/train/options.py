"""How a :class:`~layerscope.train.Monitor` logs: :class:`MonitorOptions`.

>>> MonitorOptions(every=10).render.max_channels
16
>>> MonitorOptions(every=0)
Traceback (most recent call last):
...
layerscope.errors.InputError: every must be an int >= 1, got 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.options import Options
from ..errors import InputError
from ..render import RenderOptions

__all__ = ["MonitorOptions", "DEFAULT_RENDER", "BINS"]

DEFAULT_RENDER = RenderOptions(max_channels=16, normalize="layer", scale=2, labels=True)
BINS = 64


@dataclass(frozen=True)
class MonitorOptions(Options):
    """``every``: log on steps 0, every, 2*every ...; ``bins``: histogram bins between the values' min and max;
    ``thresholds``: the diagnosis thresholds (a mapping or a :class:`~layerscope.diagnosis.thresholds.Thresholds`;
    None: the defaults); ``render``: how the grids are drawn (a :class:`~layerscope.render.RenderOptions`;
    default 16 channels on one scale per layer)."""

    every: int = 100
    bins: int = BINS
    thresholds: Any = None
    render: RenderOptions = field(default=DEFAULT_RENDER)

    @classmethod
    def of(cls, options: Any = None, **fields: Any) -> "MonitorOptions":
        """``options`` (None: the defaults; a :class:`~layerscope.render.RenderOptions`: taken as ``render``) with
        ``fields`` replacing its fields.

        >>> MonitorOptions.of(RenderOptions(max_channels=4), every=5).render.max_channels
        4
        """
        if isinstance(options, RenderOptions):
            options = cls(render=options)
        return super().of(options, **fields)

    def __post_init__(self) -> None:
        for name, value in (("every", self.every), ("bins", self.bins)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an int >= 1, got {value!r}.")
        if not isinstance(self.render, RenderOptions):
            raise InputError(f"render must be a RenderOptions, got {type(self.render).__name__}; e.g. "
                             f"render=RenderOptions(max_channels=8).")
