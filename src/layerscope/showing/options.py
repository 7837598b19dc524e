"""What :func:`layerscope.show` draws besides how grids look: views, display names, layouts, ranking, threads.

>>> ShowOptions(views="grid, overlay", names=["features.0=conv1_1"]).views
('grid', 'overlay')
>>> ShowOptions(names=["features.0=conv1_1,features.2=conv1_2"]).names
{'features.0': 'conv1_1', 'features.2': 'conv1_2'}
>>> ShowOptions(views="overlya")
Traceback (most recent call last):
...
layerscope.errors.InputError: Unknown view 'overlya'. Did you mean 'overlay'? ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ..core.layout import canonical_layout
from ..core.options import Options, positive_int
from ..errors import InputError
from ..explain.attention import wants_attention
from ..explain.ranking import RANKS, check_rank
from ..explain.targets import TARGET_HELP, check_target
from ..render.views import VIEWS, check_views

__all__ = ["ShowOptions"]


def _pairs(value: Any, name: str, example: str) -> dict[str, str]:
    """A mapping as is; ``["a=b", "c=d,e=f"]`` (repeated CLI flags) -> ``{"a": "b", "c": "d", "e": "f"}``."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    items = [value] if isinstance(value, str) else list(value)
    pairs = {}
    for item in (part for text in items for part in str(text).split(",") if part.strip()):
        layer, sep, given = item.strip().rpartition("=")
        if not sep or not layer or not given:
            raise InputError(f"{name} {item!r} must be LAYER=VALUE, e.g. --{name} {example}")
        pairs[layer] = given
    return pairs


@dataclass(frozen=True)
class ShowOptions(Options):
    """What :func:`~layerscope.show` draws and how it names things (frozen, validated when made).

    ``views``: names of :data:`~layerscope.render.views.VIEWS` (a list or ``"grid,overlay"``);
    ``names``: display names of layers for captions (``{"features.0": "conv1_1"}``); ``layouts``:
    how to read a layer's tensor (``{"encoder.layers.0": "tokens"}``, see
    :func:`~layerscope.core.layout.to_maps`); ``rank="importance"``: each grid in the channels'
    importance order for ``target`` (a class index or name, None: each input's top prediction; or any target of
    :mod:`~layerscope.explain.targets`);
    ``threads``: PNG encoding threads (None: one per core, at most 8); ``channel_labels``: the channels' labels under each
    grid file (:func:`~layerscope.explain.labels.channel_labels`, one more run over the probe set).
    """

    views: tuple[str, ...] = field(default=("grid",), metadata={
        "flag": "--view", "metavar": "VIEWS",
        "help": f"what to draw, comma separated: {', '.join(VIEWS)} (default grid); overlay draws the mean map over "
                "the image the model saw, progression one strip of every layer per image"})
    names: Mapping[str, str] = field(default_factory=dict, metadata={
        "action": "append", "metavar": "LAYER=NAME,...",
        "help": "display names for captions, e.g. --names features.0=conv1_1,features.2=conv1_2"})
    layouts: Mapping[str, str] = field(default_factory=dict, metadata={
        "flag": "--layout", "action": "append", "metavar": "LAYER=LAYOUT",
        "help": "how to read a layer's output when it cannot be inferred: NCHW, NHWC, tokens, NCL, NLC, NCDHW or NC "
                "(repeatable)"})
    rank: Optional[str] = field(default=None, metadata={
        "choices": RANKS, "help": "order each grid by the channels' importance for --target, most important first "
                                  "(gradient x activation; one extra forward and backward)"})
    target: Any = field(default=None, metadata={
        "metavar": "TARGET", "help": f"for --rank importance and --view importance, {TARGET_HELP}"})
    threads: Optional[int] = field(default=None, metadata={
        "metavar": "N", "type": int, "help": "PNG encoding threads (default: one per core)"})
    channel_labels: bool = field(default=False, metadata={
        "action": "store_true", "help": "under each grid, what drives each shown channel: its label from the "
                                        "synthetic probe set, or no clear match (see `layerscope labels`)"})

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        set_("views", check_views(self.views))
        set_("names", _pairs(self.names, "names", "features.0=conv1_1"))
        layouts = _pairs(self.layouts, "layout", "encoder.layers.0=tokens")
        set_("layouts", {layer: canonical_layout(layout) for layer, layout in layouts.items()})
        check_rank(self.rank)
        check_target(self.target)
        positive_int(self, "threads", allow_none=True)

    @property
    def importance(self) -> bool:
        """Whether the run needs the channels' importance (a ranking, or a view drawn from it)."""
        return self.rank is not None or any(VIEWS[name].needs_importance for name in self.views)

    @property
    def attention(self) -> bool:
        """Whether a chosen view draws attention maps (see :mod:`layerscope.explain.attention`)."""
        return wants_attention(self.views)
