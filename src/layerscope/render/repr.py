"""Moved: the notebook views' data holders live in :mod:`layerscope.render.viewables`, their HTML in
:mod:`layerscope.display.tables`. This module keeps the old import path working until its last users
(``comparison``, ``showing``) import from there; it imports nothing above the analyses.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from ..core.display import html_of
from .viewables import ActivationsView, ImageTable, ImageView

__all__ = ["ImageView", "ActivationsView", "image_table"]


def image_table(images: Mapping[str, Mapping[str, Any]], rows: Sequence[tuple[str, str]], columns: Sequence[str],
                *, title: str = "", notes: Sequence[str] = ()) -> Optional[str]:
    """The HTML of an :class:`~layerscope.render.viewables.ImageTable` (registered by :mod:`layerscope.display`)."""
    return html_of(ImageTable(images, rows, columns, title, notes))
