"""How results show themselves in a notebook, without an analysis importing the presentation tier.

A result class inherits :class:`Displayable`; the presentation tier (:mod:`layerscope.display`)
registers how each kind is drawn with :func:`html_for`. Importing ``layerscope`` imports that tier,
so every result displays as soon as layerscope is imported, while the analyses stay data only.

>>> class Thing(Displayable):
...     pass
>>> Thing()._repr_html_() is None  # nothing registered: Jupyter falls back to repr()
True
>>> @html_for(Thing)
... def _thing(value):
...     return "<b>thing</b>"
>>> Thing()._repr_html_()
'<b>thing</b>'
"""

from __future__ import annotations

from typing import Any, Callable, Optional

__all__ = ["Displayable", "html_for", "html_of"]

_HTML: dict[type, Callable[[Any], str]] = {}


def html_for(kind: type) -> Callable[[Callable[[Any], str]], Callable[[Any], str]]:
    """Register the decorated function as the notebook HTML of ``kind`` (and its subclasses)."""

    def register(function: Callable[[Any], str]) -> Callable[[Any], str]:
        _HTML[kind] = function
        return function

    return register


def html_of(value: Any) -> Optional[str]:
    """The registered HTML of ``value`` (the nearest class in its MRO), or None."""
    for kind in type(value).__mro__:
        if kind in _HTML:
            return _HTML[kind](value)
    return None


class Displayable:
    """Mixin: ``_repr_html_`` looks up :func:`html_for` registrations."""

    def _repr_html_(self) -> Optional[str]:
        return html_of(self)
