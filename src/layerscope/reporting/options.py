"""The report's own settings (:class:`ReportOptions`); how grids are drawn is a :class:`~layerscope.render.RenderOptions`
(:data:`REPORT_OPTIONS` by default), how inputs are read a :class:`~layerscope.run.RunOptions`.

>>> ReportOptions(views="grid, diagnostics").views
('grid', 'diagnostics')
>>> ReportOptions(views="grids")
Traceback (most recent call last):
...
layerscope.errors.InputError: Unknown report view 'grids'. Did you mean 'grid'? Use any of: grid, mean, diagnostics, predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..core.options import Options, positive_int
from ..errors import InputError, did_you_mean
from .page import VIEWS
from .sections import as_examples, as_sections

__all__ = ["ReportOptions", "check_views", "MAX_INPUTS"]

MAX_INPUTS = 16  # inputs side by side in one report


def check_views(views: Any) -> tuple[str, ...]:
    """``views`` (None: all, a comma-separated string or a list) checked against :data:`~.page.VIEWS`."""
    if views is None:
        return VIEWS
    items = [v.strip() for v in views.split(",")] if isinstance(views, str) else [str(v) for v in views]
    for item in items:
        if item not in VIEWS:
            raise InputError(f"Unknown report view {item!r}.{did_you_mean(item, VIEWS)} Use any of: {', '.join(VIEWS)}.")
    if not items:
        raise InputError(f"views is empty; give any of: {', '.join(VIEWS)}.")
    return tuple(v for v in VIEWS if v in items)


@dataclass(frozen=True)
class ReportOptions(Options):
    """What a report holds. ``views``: the parts shown (``grid``, ``mean``, ``diagnostics``, ``predictions``;
    a list or a comma-separated string; default all). ``title`` (default ``layerscope report: MODEL``).
    ``diagnosis``: True runs :func:`layerscope.diagnose` on the same inputs, False shows none, or give a
    :class:`~layerscope.diagnosis.Diagnosis`. ``sections`` and ``examples`` plug in results of other tools
    (see :mod:`layerscope.reporting.sections`). ``max_inputs``: inputs side by side, at most."""

    views: Any = field(default=VIEWS, metadata={
        "help": f"parts to include, comma separated (default all): {','.join(VIEWS)}", "metavar": "LIST"})
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
