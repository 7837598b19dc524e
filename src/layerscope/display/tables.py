"""Notebook HTML tables: captured layers with a thumbnail each, and thumbnails by row and column.

>>> import torch
>>> html = activations_html({"conv": torch.rand(1, 4, 8, 8)})
>>> "<table" in html and "4x8x8" in html and "data:image/png;base64," in html
True

Every text is HTML-escaped by the report's components (:mod:`layerscope.reporting.components`);
pictures are embedded as base64 PNG data URIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Sequence

import numpy as np

from ..core.layout import layer_maps, select_names
from ..errors import LayerscopeError
from ..render.summary import check_summary, summary_panel
from ..reporting.components import fragment
from ..reporting.images import data_uri, thumbnail

__all__ = ["activations_html", "image_table", "figure_html"]


def figure_html(array: np.ndarray, title: Optional[str] = None) -> str:
    """One picture with its caption (escaped).

    >>> page = figure_html(np.zeros((2, 3, 3), np.uint8), title="a<b")
    >>> "a<b" in page, "a&lt;b" in page
    (False, True)
    """
    return fragment("figure", data_uri(array), title)


def activations_html(
    acts: Mapping,
    *,
    index: int = 0,
    layers: Optional[Sequence[str]] = None,
    summary: str = "mean",
    thumb_height: int = 48,
    input_size: Any = None,
    layouts: Optional[Mapping[str, str]] = None,
) -> str:
    """An HTML table of captured layers: name, module type, shape, layout, a summary thumbnail, notes.

    Every text is HTML-escaped; thumbnails are base64-embedded PNGs of input ``index``'s
    ``summary`` map. A layer that cannot be laid out shows the reason instead of a thumbnail.
    """
    names = select_names(acts, layers)
    check_summary(summary)
    options = {"layouts": layouts, "input_size": input_size}
    rows = _table_rows(acts, names, options, index, summary, thumb_height)
    total = sum(int(np.prod(r["shape"])) for r in rows)
    head = (f"Activations: {len(rows)} layer{'s' if len(rows) != 1 else ''}, {total:,} values; "
            f"thumbnails: {summary} over channels of input {index}")
    cells = [{"index": i, "name": r["name"], "type": r["type"], "shape": "x".join(map(str, r["shape"][1:])) or "scalar",
              "layout": r["layout"], "verdict": None, "reason": "", "notes": r["notes"],
              "thumbs": [data_uri(r["thumb"]) if r["thumb"] is not None else None]} for i, r in enumerate(rows)]
    return fragment("layer_table", cells, head=head)


def _table_rows(
    acts: Mapping, names: Sequence[str], options: dict[str, Any], index: int, summary: str, height: int
) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        info = getattr(acts, "info", {}).get(name)
        row: dict[str, Any] = {"name": name, "type": str(getattr(info, "module_type", "") or ""),
                               "shape": tuple(acts[name].shape), "layout": "?", "notes": "", "thumb": None}
        try:
            laid = layer_maps(acts, name, **options)
            row.update(layout=laid.layout, notes="; ".join(laid.notes))
            row["thumb"] = summary_panel(laid.maps[index], summary=summary, height=height)
        except LayerscopeError as err:
            row["notes"] = str(err)
        except IndexError:
            row["notes"] = f"no input {index} in a batch of {acts[name].shape[0]}"
        rows.append(row)
    return rows


def image_table(
    images: Mapping[str, Mapping[str, Any]],
    rows: Sequence[tuple[str, str]],
    columns: Sequence[str],
    *,
    title: str = "",
    notes: Sequence[str] = (),
    size: tuple[int, int] = (160, 96),
    max_rows: int = 20,
    max_columns: int = 24,
) -> str:
    """An HTML table of thumbnails: ``images[row][column]`` (a ChannelGrid, a PIL image or a PNG path).

    ``rows`` are ``(key, tooltip)`` pairs. Thumbnails fit in ``size`` (width, height); every text is escaped.

    >>> page = image_table({"a<b": {"conv": np.zeros((4, 4, 3), np.uint8)}}, [("a<b", "x.png")], ["conv"])
    >>> "a&lt;b" in page and page.count("<img") == 1
    True
    """
    shown = list(columns[:max_columns])
    body = [(key, tooltip, [data_uri(thumbnail(images[key][c], size)) if c in images.get(key, {}) else None
                            for c in shown]) for key, tooltip in rows[:max_rows]]
    more = [f"{n} more {what} not shown" for n, what in ((len(rows) - max_rows, "inputs"),
                                                          (len(columns) - max_columns, "layers")) if n > 0]
    return fragment("image_table", title, shown, body, [*more, *notes])
