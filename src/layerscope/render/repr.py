"""Objects that show themselves in Jupyter: an image, and a view of captured activations (strip + table).

>>> import numpy as np, torch
>>> page = ImageView(np.zeros((2, 3, 3), np.uint8), title="a<b")._repr_html_()
>>> "a<b" in page, "a&lt;b" in page
(False, True)
>>> html = activations_html({"conv": torch.rand(1, 4, 8, 8)})
>>> "<table" in html and "4x8x8" in html and "data:image/png;base64," in html
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import InputError, LayerscopeError
from ..core.layout import layer_maps, select_names
from .png import encode_png
from .summary import check_summary, progression_strip, summary_panel

__all__ = ["ImageView", "ActivationsView", "activations_html", "image_table"]


class ImageView:
    """An (H, W, 3) or (H, W) uint8 image (e.g. from :func:`overlay` or :func:`pca_rgb`) that Jupyter displays."""

    def __init__(self, array: np.ndarray, title: Optional[str] = None) -> None:
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise InputError(
                f"ImageView needs an (H, W) or (H, W, 3) uint8 numpy array, got "
                f"{type(array).__name__} {getattr(array, 'dtype', '')} {getattr(array, 'shape', '')}."
            )
        self.array = array
        self.title = title

    def _repr_png_(self) -> bytes:
        return encode_png(self.array)

    def _repr_html_(self) -> str:
        from ..reporting.components import fragment
        from ..reporting.images import data_uri

        return fragment("figure", data_uri(self.array), self.title)

    def to_pil(self) -> Any:
        from PIL import Image

        return Image.fromarray(self.array)

    def __repr__(self) -> str:
        return f"ImageView({'x'.join(map(str, self.array.shape))}{', ' + repr(self.title) if self.title else ''})"


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
    from ..reporting.components import fragment
    from ..reporting.images import data_uri

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
        row = {"name": name, "type": str(getattr(info, "module_type", "") or ""), "shape": tuple(acts[name].shape),
               "layout": "?", "notes": "", "thumb": None}
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

    >>> import numpy as np
    >>> page = image_table({"a<b": {"conv": np.zeros((4, 4, 3), np.uint8)}}, [("a<b", "x.png")], ["conv"])
    >>> "a&lt;b" in page and page.count("<img") == 1
    True
    """
    from ..reporting.components import fragment
    from ..reporting.images import data_uri, thumbnail

    shown = list(columns[:max_columns])
    body = [(key, tooltip, [data_uri(thumbnail(images[key][c], size)) if c in images.get(key, {}) else None
                            for c in shown]) for key, tooltip in rows[:max_rows]]
    more = [f"{n} more {what} not shown" for n, what in ((len(rows) - max_rows, "inputs"),
                                                          (len(columns) - max_columns, "layers")) if n > 0]
    return fragment("image_table", title, shown, body, [*more, *notes])


class ActivationsView:
    """Captured activations for Jupyter: the progression strip as PNG, a layer table as HTML.

    >>> import torch
    >>> view = ActivationsView({"a": torch.rand(1, 4, 8, 8), "b": torch.rand(1, 8, 4, 4)}, height=16)
    >>> view._repr_png_()[:4]
    b'\\x89PNG'
    """

    def __init__(
        self,
        acts: Mapping,
        *,
        index: int = 0,
        layers: Optional[Sequence[str]] = None,
        summary: str = "mean",
        height: int = 64,
        input_size: Any = None,
        layouts: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.acts = acts
        self.names = select_names(acts, layers)
        check_summary(summary)
        self.options = {"index": index, "summary": summary, "input_size": input_size, "layouts": layouts}
        self.height = height

    def _drawable(self) -> list[str]:
        ok = []
        for name in self.names:
            try:
                layer_maps(self.acts, name, layouts=self.options["layouts"], input_size=self.options["input_size"])
                ok.append(name)
            except LayerscopeError:
                continue
        return ok

    def strip(self) -> np.ndarray:
        """The progression strip of every layer that can be laid out (see :func:`progression_strip`)."""
        return progression_strip(self.acts, layers=self._drawable(), height=self.height, **self.options)

    def _repr_png_(self) -> Optional[bytes]:
        try:
            return encode_png(self.strip())
        except LayerscopeError:
            return None  # nothing drawable: Jupyter falls back to the HTML / text repr

    def _repr_html_(self) -> str:
        return activations_html(self.acts, layers=self.names, thumb_height=min(self.height, 48), **self.options)

    def __repr__(self) -> str:
        return f"ActivationsView({len(self.names)} layers, input {self.options['index']})"
