"""How to draw channel grids: one frozen, validated :class:`RenderOptions`, checked once when made.

Every function that draws grids (:func:`~layerscope.render.render_grid`, :func:`~layerscope.render.render_grids`,
:func:`layerscope.show`) takes ``options`` and keywords under one rule: the keywords replace fields
of ``options`` (of the function's defaults when ``options`` is None).

>>> options = RenderOptions(normalize="signed", max_channels=16)
>>> options.cmap, options.replace(normalize="robust").percentiles
('RdBu_r', (1.0, 99.0))
>>> RenderOptions(normalize="robus")
Traceback (most recent call last):
...
layerscope.errors.InputError: Unknown normalization 'robus'. Did you mean 'robust'? Use one of: ...
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Union

from ..core.jsonio import jsonable
from ..core.options import Options
from ..errors import InputError, did_you_mean
from .channels import ORDERS, check_channels, check_max_channels
from .colormap import resolve_cmap
from .normalize import MODES, check_mode, check_range, mode_info

__all__ = ["RenderOptions", "LayerRanges"]

Pair = tuple[float, float]


class LayerRanges(Mapping):
    """A read-only, hashable mapping of layer names to ``(low, high)`` display ranges.

    >>> ranges = LayerRanges({"conv1": (0, 2)})
    >>> ranges["conv1"], ranges == {"conv1": (0.0, 2.0)}
    ((0.0, 2.0), True)
    """

    def __init__(self, ranges: Mapping[str, Any]) -> None:
        self._items = tuple((str(name), check_range(pair)) for name, pair in ranges.items())

    def __getitem__(self, name: str) -> Pair:
        for key, pair in self._items:
            if key == name:
                return pair
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"LayerRanges({dict(self._items)!r})"

    def to_dict(self) -> dict[str, Pair]:
        return dict(self._items)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{name} must be an int >= {low}, got {value!r}.")
    return value


def _pair(flag: str, example: str) -> Any:
    """A flag's type: 'LO,HI' -> (LO, HI); anything else is a usage error naming ``flag``.

    >>> _pair("--range", "-1,1")("0,2.5")
    (0.0, 2.5)
    """

    def parse(text: str) -> Pair:
        try:
            low, high = (float(part) for part in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text!r} must be two comma-separated numbers, e.g. {flag} {example}") from None
        return low, high

    return parse


def _flag(help: str, **more: Any) -> dict[str, Any]:
    return {"help": help, **more}


@dataclass(frozen=True)
class RenderOptions(Options):
    """How grids are drawn. Validated when made (InputError naming the bad value); hashable.

    ``normalize``: a mode of :mod:`~layerscope.render.normalize`; ``percentiles`` for the robust
    modes (default ``(1, 99)``, None for the others); ``value_range``: ``(low, high)``, or a mapping of
    layer names to pairs, only for ``"global"``; ``cmap``: any matplotlib colormap (None: ``viridis``,
    ``RdBu_r`` for the signed modes); ``max_channels`` (None or 0: all); ``order``: ``index``, or rank
    by ``mean``, ``max``, ``std``, ``active``; ``channels``: the channel indices to show, in display
    order (then ``order`` and ``max_channels`` do not apply); ``labels``: channel index above each tile (None: where it fits on the tile);
    ``caption``: True (layer, the channels shown and why, mode and range) or your own text; ``colorbar`` (None:
    where the grid is wide enough); ``scale``: nearest
    upscale of each map; ``min_tile``: the smallest tile size in pixels (small maps, e.g. a deep
    7x7 layer, are upscaled nearest until their longer side reaches it; 0: off); ``padding``: pixels between tiles;
    ``columns`` (None: about square).
    """

    # A field's metadata declares its command-line flag (core.options.Options.add_flags); a flag left out
    # keeps the command's own default (show's and the report's differ).
    normalize: str = field(default="channel", metadata=_flag(
        "display range: per channel min-max (default), per layer, global (shared across images, or --range), "
        "robust percentiles (--percentiles), signed (zero-centred)", choices=MODES))
    percentiles: Optional[Pair] = field(default=None, metadata=_flag(
        "percentiles for --normalize robust* (default 1,99)", type=_pair("--percentiles", "1,99"), metavar="LO,HI"))
    value_range: Union[Pair, LayerRanges, None] = field(default=None, metadata=_flag(
        "fixed value range for --normalize global", flag="--range", type=_pair("--range", "-1,1"), metavar="LO,HI"))
    cmap: Optional[str] = field(default=None, metadata=_flag(
        "any matplotlib colormap (default viridis; RdBu_r for signed)", metavar="NAME"))
    max_channels: Optional[int] = field(default=None, metadata=_flag(
        "channels per grid (0 = every channel; default: the command's)", type=int, metavar="N"))
    order: str = field(default="index", metadata=_flag(
        "channel order: index, or the top channels by mean / max / std / fraction active", choices=ORDERS))
    labels: Optional[bool] = field(default=None, metadata=_flag(
        "write each channel's index above its tile (default: where the number fits on the tile)",
        action=argparse.BooleanOptionalAction))
    caption: Union[bool, str] = field(default=False, metadata=_flag(
        "leave out the caption (layer, normalization, value range, cmap) above each grid", flag="--no-caption",
        action="store_false"))
    colorbar: Optional[bool] = field(default=None, metadata=_flag(
        "add a colorbar strip with the value range (default: where the grid is wide enough)",
        action=argparse.BooleanOptionalAction))
    scale: int = field(default=1, metadata=_flag("enlarge every map N times (nearest)", metavar="N"))
    min_tile: int = field(default=0, metadata=_flag(
        "smallest tile size in pixels; smaller maps are enlarged (0 = off; default: the command's)", metavar="PX"))
    padding: int = field(default=1, metadata=_flag("pixels between tiles (default 1)", metavar="PX"))
    columns: Optional[int] = field(default=None, metadata=_flag("tiles per row (default: about square)", type=int,
                                                                metavar="N"))
    channels: Optional[tuple[int, ...]] = None
    _default_cmap: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        info = mode_info(self.normalize)
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        set_("percentiles", check_mode(self.normalize, self.percentiles))
        if self.value_range is not None:
            if info.scope != "global":
                raise InputError(
                    f"A value range ({self.value_range}) applies only to normalize='global' (CLI: --normalize "
                    f"global --range LO,HI); with normalize={self.normalize!r} each grid's range comes from its own maps."
                )
            ranges = self.value_range
            set_("value_range", LayerRanges(ranges) if isinstance(ranges, Mapping) else check_range(ranges))
        if self.order not in ORDERS:
            raise InputError(f"Unknown channel order {self.order!r}; use one of: {', '.join(ORDERS)}.")
        set_("_default_cmap", self.cmap is None)
        set_("cmap", resolve_cmap(self.cmap, signed=info.signed))
        check_max_channels(self.max_channels)
        set_("channels", check_channels(self.channels))
        _check_int("padding", self.padding, 0)
        _check_int("scale", self.scale, 1)
        _check_int("min_tile", self.min_tile, 0)
        if self.columns is not None:
            _check_int("columns", self.columns, 1)

    @classmethod
    def of(cls, options: Optional["RenderOptions"] = None, **fields: Any) -> "RenderOptions":
        """``options`` (None: the defaults) with ``fields`` replacing its fields: the rule of every
        function that takes options and keywords.

        >>> RenderOptions.of(RenderOptions(scale=2), order="std").scale
        2
        """
        if options is not None and not isinstance(options, RenderOptions):
            raise InputError(
                f"options must be a RenderOptions, got {type(options).__name__}; pass the fields as keywords "
                "instead, e.g. render_grid(maps, normalize='layer') or RenderOptions(**fields)."
            )
        if not fields:
            return options if options is not None else cls()
        return (options if options is not None else cls()).replace(**fields)

    def replace(self, **changes: Any) -> "RenderOptions":
        """A copy with ``changes``, validated again. A colormap left to its default follows the new mode.

        >>> RenderOptions().replace(normalize="signed-layer").cmap
        'RdBu_r'
        """
        names = [f.name for f in dataclasses.fields(self) if f.init]
        unknown = [name for name in changes if name not in names]
        if unknown:
            raise InputError(
                f"Unknown render option {unknown[0]!r}.{did_you_mean(unknown[0], names)} Use: {', '.join(names)}."
            )
        if self._default_cmap and "cmap" not in changes:
            changes["cmap"] = None
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_flags(cls, flags: Any, base: Optional["RenderOptions"] = None) -> "RenderOptions":
        """``base`` with the parsed command-line flags whose destinations are field names.

        ``flags`` is an ``argparse.Namespace`` (or a dict); a flag the parser left out (its default
        is ``argparse.SUPPRESS``) keeps the value of ``base``.

        >>> import argparse
        >>> RenderOptions.from_flags(argparse.Namespace(scale=4, out="maps")).scale
        4
        """
        values = flags if isinstance(flags, Mapping) else vars(flags)
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        return cls.of(base, **{name: value for name, value in values.items() if name in names})

    def scale_for(self, map_size: tuple[int, int]) -> int:
        """The nearest-upscale factor for maps of ``map_size``: ``scale``, raised until tiles reach ``min_tile``
        on their longer side (a strip 8 pixels high and 1000 wide is long enough as it is).

        >>> RenderOptions(min_tile=32).scale_for((7, 7)), RenderOptions(scale=2, min_tile=32).scale_for((56, 56))
        (5, 2)
        >>> RenderOptions(min_tile=32).scale_for((8, 1000))
        1
        """
        longest = max(max(map_size), 1)
        return max(self.scale, -(-self.min_tile // longest))

    def range_for(self, layer: Optional[str]) -> Optional[Pair]:
        """The fixed value range of ``layer``: the pair, the layer's entry of a mapping, or None."""
        if isinstance(self.value_range, LayerRanges):
            return self.value_range.get(layer) if layer is not None else None
        return self.value_range

    def to_dict(self) -> dict:
        """The fields as JSON types (as written to ``index.json``)."""
        return jsonable({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init})
