"""The report's own settings (:class:`ReportOptions`); how grids are drawn is a :class:`~layerscope.render.RenderOptions`
(:data:`REPORT_OPTIONS` by default), how inputs are read a :class:`~layerscope.run.RunOptions`.

>>> ReportOptions(views="grid, diagnostics").views
('grid', 'diagnostics')
>>> ReportOptions(views="grids")
Traceback (most recent call last):
...
layerscope.errors.InputError: Unknown report view 'grids'. Did you mean 'grid'? Choose from: grid, mean, diagnostics, predictions, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..core.names import choose
from ..core.options import Options, positive_int
from ..errors import InputError
from ..render.views import VIEWS as RENDER_VIEWS
from .page import VIEWS
from .sections import as_examples, as_sections

__all__ = ["ReportOptions", "check_views", "MAX_INPUTS"]

MAX_INPUTS = 16  # inputs side by side in one report


def picture_views() -> tuple[str, ...]:
    """The views of the registry (:data:`layerscope.render.views.VIEWS`) a report can add under each layer's grids:
    one picture per (layer, input), drawn from the layer's maps (``overlay``, ``pca``, ``figure`` and any view
    registered later)."""
    return tuple(name for name, view in RENDER_VIEWS.items()
                 if view.per == "layer" and not view.needs_importance and name not in VIEWS)


def check_views(views: Any) -> tuple[str, ...]:
    """``views`` (None: the report's parts, :data:`~.page.VIEWS`; a comma-separated string or a list) checked
    against the parts and :func:`picture_views`, with did-you-mean; parts first, then pictures, as given.

    >>> check_views("grid,overlay")
    ('grid', 'overlay')
    """
    if views is None:
        return VIEWS
    items = [v.strip() for v in views.split(",")] if isinstance(views, str) else [str(v) for v in views]
    items = [item for item in items if item]
    known = (*VIEWS, *picture_views())
    for item in items:
        choose(item, known, "report view", hint="Parts: grid, mean, diagnostics, predictions; pictures under each "
                                                "layer: " + ", ".join(picture_views()) + ".")
    if not items:
        raise InputError(f"views is empty; give any of: {', '.join(known)}.")
    return tuple(v for v in VIEWS if v in items) + tuple(dict.fromkeys(v for v in items if v not in VIEWS))


@dataclass(frozen=True)
class ReportOptions(Options):
    """What a report holds. ``views``: the parts shown (``grid``, ``mean``, ``diagnostics``, ``predictions``;
    a list or a comma-separated string; default all of them), plus any picture view of the registry
    (:func:`picture_views`: ``overlay``, ``pca``, ``figure`` ...) drawn under each layer's grids. ``title`` (default ``layerscope report: MODEL``).
    ``diagnosis``: True runs :func:`layerscope.diagnose` on the same inputs, False shows none, or give a
    :class:`~layerscope.diagnosis.Diagnosis`. ``sections`` and ``examples`` plug in results of other tools
    (see :mod:`layerscope.reporting.sections`). ``max_inputs``: inputs side by side, at most."""

    views: Any = field(default=VIEWS, metadata={
        "help": f"parts to include, comma separated (default: {','.join(VIEWS)}); add pictures of the views "
                "registry under each layer's grids: overlay, pca, figure (--view, as show and serve spell it, works too)",
        "metavar": "LIST", "flag": ("--views", "--view")})
    title: Optional[str] = field(default=None, metadata={"help": "the page title (default: 'layerscope report: MODEL')"})
    diagnosis: Any = True
    sections: Any = ()
    examples: Any = None
    max_inputs: int = MAX_INPUTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "views", check_views(self.views))
        object.__setattr__(self, "sections", tuple(as_sections(self.sections)))
        if self.examples is not None and not (isinstance(self.examples, dict) and _converted(self.examples)):
            object.__setattr__(self, "examples", as_examples(self.examples))
        positive_int(self, "max_inputs")
        if not isinstance(self.diagnosis, bool) and not hasattr(self.diagnosis, "layers"):
            raise InputError(f"diagnosis={type(self.diagnosis).__name__} must be True, False or a Diagnosis.")

    __hash__ = object.__hash__  # sections and examples are content, not hashable values


def _converted(examples: dict) -> bool:
    """Whether ``examples`` already is :func:`as_examples`' output (layer -> channel -> [dicts])."""
    return all(isinstance(items, list) and all(isinstance(e, dict) for e in items)
               for channels in examples.values() if isinstance(channels, dict) for items in channels.values()) and \
        all(isinstance(channels, dict) for channels in examples.values())
